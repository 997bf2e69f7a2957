//! The Southbound's addresses: `ovn-remote` (or `--ovn-sb`) is a comma-separated list,
//! one address per member of a clustered database.

use super::error::OvnError;
use crate::ovsdb::OvsdbAddr;

/// Parses `tcp:H:P,unix:PATH,...`; every address must parse.
pub fn parse_remotes(list: &str) -> Result<Vec<OvsdbAddr>, OvnError> {
    let mut out = Vec::new();
    for text in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if text.starts_with("ssl:") {
            return Err(OvnError::Ssl { text: text.into() });
        }
        let addr = text.parse().map_err(|source| OvnError::Remote {
            text: text.into(),
            list: list.into(),
            source,
        })?;
        out.push(addr);
    }
    match out.is_empty() {
        true => Err(OvnError::NoRemote),
        false => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_list_is_every_member() {
        let got = parse_remotes("tcp:127.0.0.1:6641, tcp:[::1]:6642,unix:/run/sb.sock").unwrap();
        let text: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["tcp:127.0.0.1:6641", "tcp:[::1]:6642", "unix:/run/sb.sock"]
        );
    }

    #[test]
    fn bad_lists_say_which_address() {
        let e = parse_remotes("tcp:1.2.3.4:6642,tcp:x:y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"tcp:x:y\""), "{e}");
        assert!(matches!(parse_remotes(" , "), Err(OvnError::NoRemote)));
        assert!(matches!(
            parse_remotes("ssl:h:6642"),
            Err(OvnError::Ssl { .. })
        ));
    }
}
