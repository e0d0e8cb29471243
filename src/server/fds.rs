//! Fitting the connection limit to the process's open-file limit.
//!
//! Every open connection holds a file descriptor. With the common soft limit of 1,024 and the
//! default `--max-connections` of 1,024, accepts would start failing (connections reset with no
//! answer) before the limit that answers 503 is reached. So at start the soft limit is raised
//! toward the hard one, and the connection limit is lowered to what the descriptors allow, with
//! [`RESERVED`] kept for the database, the listener and outgoing requests.

/// Descriptors kept for everything that is not an incoming connection.
pub const RESERVED: u64 = 128;

/// Raises the soft open-file limit as far as the hard limit allows and returns the most
/// connections that then fit, or `None` when the limit cannot be read (no limit to respect).
pub fn connection_room() -> Option<usize> {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?.0,
    };
    Some(
        soft.saturating_sub(RESERVED)
            .max(1)
            .try_into()
            .unwrap_or(usize::MAX),
    )
}

/// `wanted` connections, or fewer if the descriptors allow fewer; with a line saying why when
/// it lowers them.
pub fn fit(wanted: usize, room: Option<usize>) -> (usize, Option<String>) {
    match room {
        Some(room) if room < wanted => (
            room,
            Some(format!(
                "max connections: {room} (lowered from {wanted}: the open-file limit allows \
                 {} descriptors, {RESERVED} of them kept for the database and outgoing requests)",
                room as u64 + RESERVED
            )),
        ),
        _ => (wanted, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_lowered_only_to_fit() {
        assert_eq!(fit(1024, Some(4000)), (1024, None));
        assert_eq!(fit(1024, None), (1024, None));
        let (n, why) = fit(1024, Some(896));
        assert_eq!(n, 896);
        assert!(why.unwrap().contains("lowered from 1024"));
    }
}
