//! The parts of the daemon's answers to attach requests that the human output shows.
//! Everything but the interface's id is optional: a line with a `-` is more use than a
//! refusal to print what the daemon did do.

use serde::Deserialize;

/// The 201 of `POST /v1/domains/{uuid}/interfaces`.
#[derive(Debug, Deserialize)]
pub struct Attached {
    interface: AttachedVif,
    ip_address: Option<Address>,
}

#[derive(Debug, Deserialize)]
struct AttachedVif {
    id: String,
    mac_address: Option<String>,
    device: Option<String>,
    net_id: Option<String>,
    port_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Address {
    address: String,
}

impl Attached {
    /// `attached PORT (mac M, device D, network N)`, then `address A` when one was
    /// allocated. The port names the interface the way detach-interface wants it.
    pub fn text(&self) -> String {
        let vif = &self.interface;
        let mut text = format!(
            "attached {} (mac {}, device {}, network {})\n",
            vif.port_id.as_deref().unwrap_or(&vif.id),
            or_dash(&vif.mac_address),
            or_dash(&vif.device),
            or_dash(&vif.net_id),
        );
        if let Some(ip) = &self.ip_address {
            text += &format!("address {}\n", ip.address);
        }
        text
    }
}

/// The 200 of `POST /v2.1/servers/{uuid}/os-volume_attachments`.
#[derive(Debug, Deserialize)]
pub struct VolumeAttached {
    #[serde(rename = "volumeAttachment")]
    attachment: VolumeAttachment,
}

#[derive(Debug, Deserialize)]
struct VolumeAttachment {
    id: Option<String>,
    #[serde(rename = "volumeId")]
    volume_id: Option<String>,
    device: Option<String>,
}

impl VolumeAttached {
    /// `attached volume ID as DEVICE`; `asked` is the volume id that was sent, for an
    /// answer that does not repeat it.
    pub fn text(&self, asked: &str) -> String {
        let a = &self.attachment;
        let id = a.volume_id.as_deref().or(a.id.as_deref()).unwrap_or(asked);
        match &a.device {
            Some(device) => format!("attached volume {id} as {device}\n"),
            None => format!("attached volume {id}\n"),
        }
    }
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interface_without_port_or_device_still_gets_a_line() {
        let body = r#"{"interface": {"id": "i-1", "mac_address": "52:54:00:00:00:01",
                                      "device": null, "net_id": "n-1"}}"#;
        let a: Attached = serde_json::from_str(body).expect("an answer");
        let want = "attached i-1 (mac 52:54:00:00:00:01, device -, network n-1)\n";
        assert_eq!(a.text(), want);
    }

    #[test]
    fn a_volume_answer_without_a_device_names_the_volume_only() {
        let body = r#"{"volumeAttachment": {"serverId": "s"}}"#;
        let a: VolumeAttached = serde_json::from_str(body).expect("an answer");
        assert_eq!(a.text("vol-1"), "attached volume vol-1\n");
    }
}
