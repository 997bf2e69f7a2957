//! Parsing of libvirt domain XML into our types.
//!
//! Lenient by design: libvirt adds elements and attributes with every release, and odd
//! hand-written XML exists in the field. Anything we do not model is skipped or kept as
//! text; only XML that is not well-formed, or is not a `<domain>`, is an error.

use roxmltree::{Document, Node};

use super::domain::{
    Domain, DomainDisk, DomainInterface, DomainState, InterfaceSource, NovaInstance, NovaIp,
    NovaPort, Virtualport,
};

/// Namespaces of Nova's instance metadata start with this (versions 1.0, 1.1, ...).
const NOVA_NS_PREFIX: &str = "http://openstack.org/xmlns/libvirt/nova/";

/// Domain XML that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(#[from] roxmltree::Error),
    #[error("root element is <{0}>, expected <domain>")]
    NotADomain(String),
}

/// What we take from a domain's XML.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedDomain {
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub interfaces: Vec<DomainInterface>,
    pub disks: Vec<DomainDisk>,
    pub nova: Option<NovaInstance>,
    /// The live XML shows the QEMU guest agent's channel connected: the agent can answer.
    pub agent_connected: bool,
}

impl ParsedDomain {
    /// The domain in `state`, named and identified by its XML unless libvirt said
    /// otherwise (`name`, `uuid` as listed); no guest-agent addresses.
    pub fn into_domain(
        self,
        uuid: Option<String>,
        name: Option<String>,
        state: DomainState,
    ) -> Domain {
        Domain {
            uuid: uuid.or(self.uuid).unwrap_or_default(),
            name: self.name.or(name).unwrap_or_default(),
            state,
            interfaces: self.interfaces,
            disks: self.disks,
            nova: self.nova,
            guest_addresses: vec![],
        }
    }
}

/// Parses a `<domain>` document.
pub fn parse_domain_xml(text: &str) -> Result<ParsedDomain, XmlError> {
    let doc = Document::parse(text)?;
    let root = doc.root_element();
    if root.tag_name().name() != "domain" {
        return Err(XmlError::NotADomain(root.tag_name().name().to_string()));
    }
    let mut out = ParsedDomain {
        name: child_text(root, "name"),
        uuid: child_text(root, "uuid"),
        ..Default::default()
    };
    for top in root.children().filter(Node::is_element) {
        match top.tag_name().name() {
            "devices" => {
                for dev in top.children().filter(Node::is_element) {
                    match dev.tag_name().name() {
                        "interface" => out.interfaces.push(parse_interface(dev)),
                        "disk" => out.disks.push(parse_disk(dev)),
                        "channel" if is_connected_agent(dev) => out.agent_connected = true,
                        _ => {}
                    }
                }
            }
            "metadata" => {
                if let Some(inst) = top.children().find(is_nova_instance) {
                    out.nova = Some(parse_nova_instance(inst));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn parse_interface(node: Node) -> DomainInterface {
    let mut iface = DomainInterface {
        kind: node.attribute("type").unwrap_or("").to_string(),
        ..Default::default()
    };
    for child in node.children().filter(Node::is_element) {
        match child.tag_name().name() {
            "mac" => iface.mac = child.attribute("address").and_then(|a| a.parse().ok()),
            "target" => {
                iface.target = attr(child, "dev");
                iface.target_managed = child.attribute("managed").map(|m| m != "no");
            }
            "source" => iface.source = parse_source(child),
            "model" => iface.model = attr(child, "type"),
            "alias" => iface.alias = attr(child, "name"),
            "link" => iface.link_state = attr(child, "state"),
            "mtu" => iface.mtu = child.attribute("size").and_then(|s| s.parse().ok()),
            "virtualport" => iface.virtualport = Some(parse_virtualport(child)),
            _ => {}
        }
    }
    iface
}

/// `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'
/// state='connected'/></channel>`: libvirt sets `state` in the live XML only.
fn is_connected_agent(channel: Node) -> bool {
    channel.attribute("type") == Some("unix")
        && channel.children().any(|t| {
            t.has_tag_name("target")
                && t.attribute("type") == Some("virtio")
                && t.attribute("name") == Some("org.qemu.guest_agent.0")
                && t.attribute("state") == Some("connected")
        })
}

fn parse_disk(node: Node) -> DomainDisk {
    DomainDisk {
        target: node
            .children()
            .find(|n| n.has_tag_name("target"))
            .and_then(|t| attr(t, "dev")),
        serial: child_text(node, "serial"),
        device: attr(node, "device"),
    }
}

fn parse_source(node: Node) -> InterfaceSource {
    let mut src = InterfaceSource::default();
    for a in node.attributes() {
        let v = Some(a.value().to_string());
        match a.name() {
            "bridge" => src.bridge = v,
            "network" => src.network = v,
            "dev" => src.dev = v,
            "mode" => src.mode = v,
            "path" => src.path = v,
            _ => {
                src.other
                    .insert(a.name().to_string(), a.value().to_string());
            }
        }
    }
    // hostdev interfaces name the device in a nested <address>.
    if let Some(addr) = node.children().find(|n| n.has_tag_name("address")) {
        src.address = format_address(addr);
    }
    src
}

/// Formats a PCI `<address>` as `DDDD:BB:SS.F`; other address types as `type:attrs`.
fn format_address(addr: Node) -> Option<String> {
    let hex = |name: &str| {
        let v = addr.attribute(name)?;
        u32::from_str_radix(v.trim_start_matches("0x"), 16).ok()
    };
    match addr.attribute("type") {
        Some("pci") | None => Some(format!(
            "{:04x}:{:02x}:{:02x}.{:x}",
            hex("domain").unwrap_or(0),
            hex("bus")?,
            hex("slot")?,
            hex("function").unwrap_or(0)
        )),
        Some(other) => {
            let attrs: Vec<String> = addr
                .attributes()
                .filter(|a| a.name() != "type")
                .map(|a| format!("{}={}", a.name(), a.value()))
                .collect();
            Some(format!("{other}:{}", attrs.join(",")))
        }
    }
}

fn parse_virtualport(node: Node) -> Virtualport {
    let params = node.children().find(|n| n.has_tag_name("parameters"));
    Virtualport {
        kind: attr(node, "type"),
        interfaceid: params.and_then(|p| attr(p, "interfaceid")),
    }
}

fn is_nova_instance(node: &Node) -> bool {
    node.is_element()
        && node.tag_name().name() == "instance"
        && node
            .tag_name()
            .namespace()
            .is_some_and(|ns| ns.starts_with(NOVA_NS_PREFIX))
}

fn parse_nova_instance(node: Node) -> NovaInstance {
    let mut inst = NovaInstance::default();
    for child in node.children().filter(Node::is_element) {
        match child.tag_name().name() {
            "name" => inst.name = text(child),
            "owner" => {
                for who in child.children().filter(Node::is_element) {
                    match who.tag_name().name() {
                        "user" => {
                            inst.user_uuid = attr(who, "uuid");
                            inst.user_name = text(who);
                        }
                        "project" => {
                            inst.project_uuid = attr(who, "uuid");
                            inst.project_name = text(who);
                        }
                        _ => {}
                    }
                }
            }
            "ports" => inst.ports = child.children().filter_map(parse_nova_port).collect(),
            _ => {}
        }
    }
    inst
}

fn parse_nova_port(node: Node) -> Option<NovaPort> {
    if !node.is_element() || node.tag_name().name() != "port" {
        return None;
    }
    let uuid = attr(node, "uuid")?;
    let ips = node
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "ip")
        .filter_map(|ip| {
            Some(NovaIp {
                kind: attr(ip, "type"),
                address: attr(ip, "address")?,
                version: ip.attribute("ipVersion").and_then(|v| v.parse().ok()),
            })
        })
        .collect();
    Some(NovaPort { uuid, ips })
}

fn attr(node: Node, name: &str) -> Option<String> {
    node.attribute(name).map(str::to_string)
}

fn text(node: Node) -> Option<String> {
    node.text()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn child_text(node: Node, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.has_tag_name(name))
        .and_then(text)
}
