//! The values Nova's response schemas accept, in one place: the views build their fields
//! through these, so a value that does not fit never reaches a response.
//!
//! The rule of every OpenStack-shaped view: an entry is listed only when vifd knows every
//! value Nova's schema requires of it, at the microversion asked, in the form the schema
//! requires (a UUID, a MAC address, a device path); a value the schema lets be absent or
//! null is left out or null when unknown. Nothing is made up to fill a field, and nothing
//! is listed with a required field null: the native `/v1` API shows every record with
//! everything known about it.

use std::time::{SystemTime, UNIX_EPOCH};

/// `text` as a UUID in its hyphenated lowercase form (JSON Schema's `uuid` format), or
/// `None` when it is no UUID: an OVSDB `iface-id` or a configured network id may be any
/// string, and Nova's port, network and volume ids are UUIDs.
pub fn uuid(text: &str) -> Option<String> {
    let u = uuid::Uuid::try_parse(text).ok()?;
    let hyphenated = u.hyphenated().to_string();
    // The simple (32 hex) and braced forms parse too, but are not what the record holds.
    hyphenated.eq_ignore_ascii_case(text).then_some(hyphenated)
}

/// `device` when Nova's device pattern accepts it (`match_device()` of
/// nova/block_device.py: `(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$`). That pattern is
/// the same as `^/dev/[a-z]+[0-9]*$`: any run of letters matches its optional `x`, letter
/// and `d` followed by one or more letters.
pub fn device(device: &str) -> Option<&str> {
    let name = device.strip_prefix("/dev/")?;
    let letters = name.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits_only = name[letters..].bytes().all(|b| b.is_ascii_digit());
    (letters > 0 && digits_only).then_some(device)
}

/// `at` as an RFC 3339 UTC timestamp to the second (JSON Schema's `date-time` format),
/// or `None` outside years 1970 to 9999, which the formatter cannot write.
pub fn date_time(at: SystemTime) -> Option<String> {
    const YEAR_10000: u64 = 253_402_300_800;
    let secs = at.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs < YEAR_10000).then(|| humantime::format_rfc3339_seconds(at).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_is_rfc3339_utc() {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(date_time(at).as_deref(), Some("2023-11-14T22:13:20Z"));
        let far = UNIX_EPOCH + std::time::Duration::from_secs(300_000_000_000);
        assert_eq!(date_time(far), None);
    }

    #[test]
    fn uuid_accepts_only_the_hyphenated_form() {
        let u = "4E6A8C0E-2F4B-46D8-9E0A-2C4E6A8C0E2F";
        assert_eq!(uuid(u).as_deref(), Some(&*u.to_ascii_lowercase()));
        assert_eq!(uuid("4e6a8c0e2f4b46d89e0a2c4e6a8c0e2f"), None);
        assert_eq!(uuid("port-1"), None);
        assert_eq!(uuid(""), None);
    }

    #[test]
    fn device_follows_novas_pattern() {
        for ok in [
            "/dev/vda",
            "/dev/sdb",
            "/dev/hdc",
            "/dev/xvda",
            "/dev/vdz12",
        ] {
            assert_eq!(device(ok), Some(ok));
        }
        for bad in [
            "/dev/nvme0n1",
            "vda",
            "/dev/",
            "/dev/VDA",
            "/dev/vd-a",
            "/dev/1",
        ] {
            assert_eq!(device(bad), None, "{bad}");
        }
    }
}
