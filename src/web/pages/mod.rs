//! The HTML pages: one askama template struct per page, built from store data.
//!
//! Templates escape every value they print; these structs only hold plain strings and views, so
//! captured content can never turn into markup or script.

mod bins;
mod webhooks;

pub use bins::*;
pub use webhooks::*;

use askama::Template;
use hyper::{Response, StatusCode};

use super::WebError;
use super::response::{self, Body};

fn render(status: StatusCode, page: &impl Template) -> Result<Response<Body>, WebError> {
    page.render()
        .map(|html| response::html(status, html))
        .map_err(|e| WebError::Internal(format!("template: {e}")))
}

/// Bytes in the largest binary unit that keeps the number readable.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_naturally() {
        assert_eq!(super::human_size(0), "0 B");
        assert_eq!(super::human_size(1023), "1023 B");
        assert_eq!(super::human_size(1536), "1.5 KiB");
        assert_eq!(super::human_size(10 * 1024 * 1024), "10.0 MiB");
    }
}
