//! HTTP uploads: single PUT and resumable sessions.
