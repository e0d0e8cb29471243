//! hookbin's integration tests: each module is a part of the spec, run against the real server
//! in-process (or the real binary) on a free loopback port with a temporary database.

mod acme;
mod api;
mod binary;
mod browser;
mod capture;
mod cli;
mod crash;
mod docs;
mod early_answers;
mod export;
mod fuzz_findings;
mod https;
mod limits;
mod listen;
mod lists;
mod live;
mod metrics;
mod openapi;
mod pages;
mod postgres;
mod proxy;
mod relay;
mod responses;
mod rules;
mod search_index;
mod security;
mod send;
mod send_pages;
mod signatures;
mod support;
mod team;
mod terminal;
mod time_filters;
mod trust;
mod webhook_pages;
