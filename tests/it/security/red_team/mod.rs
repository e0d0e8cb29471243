//! Regression tests for the defects an outside red-team pass found (issue 12), one per defect,
//! each named after it. Item 0 (a full bin's capture cost) is measured by `bench/`, not timed
//! here; its test pins that eviction from the low end keeps exactly the newest requests.

mod access;
mod connections;
mod content;
mod storage;
