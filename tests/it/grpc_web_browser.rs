//! A real gRPC-Web client in headless Chromium, calling across origins.
