//! The HTML browser, checked in headless Chromium.
