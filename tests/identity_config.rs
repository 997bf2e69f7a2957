//! Identity settings from the command line and the config file: the resolver order, the
//! `[networks]` map, OVSDB's address, and clear errors naming the key for bad values.

use clap::Parser;
use vifd::cli::{Cli, Command};
use vifd::cmd::settings;
use vifd::collect::Source;
use vifd::config::{parse, FileConfig, Loaded};
use vifd::identity::Resolver;
use vifd::ovsdb::OvsdbAddr;

const NET: &str = "0d7f7e5c-3c5a-4a51-9a8e-4f1c2b3a4d5e";

fn source(args: &[&str], file: &FileConfig) -> Result<Source, String> {
    source_of(args, file, "")
}

/// As `source`, with the file's text: a value the file sets is located by its line.
fn source_of(args: &[&str], file: &FileConfig, text: &str) -> Result<Source, String> {
    let mut argv = vec!["vifd", "list"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("valid command line");
    let Command::List(list) = cli.command else {
        unreachable!()
    };
    let loaded = Loaded {
        text: text.to_string(),
        file: file.clone(),
    };
    settings::host(&list.host, &loaded).map_err(|e| e.to_string())
}

#[test]
fn defaults_use_every_resolver_and_the_default_socket() {
    let src = source(&[], &FileConfig::default()).unwrap();
    assert_eq!(src.options.identity.order, Resolver::DEFAULT_ORDER);
    let ovs = src.ovsdb.expect("ovsdb on");
    assert_eq!(
        ovs.addr,
        OvsdbAddr::Unix("/var/run/openvswitch/db.sock".into())
    );
    assert!(!ovs.explicit);
    assert_eq!(src.guest_agent, None, "the guest agent is off by default");
}

#[test]
fn the_command_line_wins_over_the_file() {
    let file = parse("resolvers = [\"config\"]\novsdb = \"tcp:10.0.0.1:6640\"\n").unwrap();
    let src = source(
        &[
            "--resolvers",
            "nova-metadata,ovsdb",
            "--ovsdb",
            "unix:/tmp/x.sock",
        ],
        &file,
    )
    .unwrap();
    assert_eq!(
        src.options.identity.order,
        [Resolver::NovaMetadata, Resolver::Ovsdb]
    );
    assert_eq!(
        src.ovsdb.unwrap().addr,
        OvsdbAddr::Unix("/tmp/x.sock".into())
    );
    let src = source(&[], &file).unwrap();
    assert_eq!(src.options.identity.order, [Resolver::Config]);
    assert!(src.ovsdb.is_none(), "ovsdb is not among the resolvers");
}

#[test]
fn the_networks_table_becomes_the_config_map() {
    let file = parse(&format!(
        "[networks.bridges]\nbr-prov = \"{NET}\"\n[networks.ovs_bridges]\nbr-ex = \"{}\"\n[networks.mac_prefixes]\n\"fa:16:3e:01\" = \"{NET}\"\n",
        NET.to_uppercase()
    ))
    .unwrap();
    let map = source(&[], &file).unwrap().options.identity.map;
    assert_eq!(map.bridges["br-prov"], NET);
    assert_eq!(
        map.ovs_bridges["br-ex"], NET,
        "UUIDs are normalised to lower case"
    );
    assert_eq!(map.mac_prefixes[0].0 .0, [0xfa, 0x16, 0x3e, 0x01]);
}

#[test]
fn bad_values_are_errors_naming_the_key() {
    let err = |args: &[&str], text: &str| source(args, &parse(text).unwrap()).unwrap_err();
    let e = err(&["--resolvers", "ovsdb,bogus"], "");
    assert!(e.contains("resolvers") && e.contains("bogus"), "{e}");
    let e = err(&["--resolvers", "ovsdb,ovsdb"], "");
    assert!(e.contains("listed twice"), "{e}");
    let e = err(&["--ovsdb", "ssl:1.2.3.4:6640"], "");
    assert!(
        e.starts_with("ovsdb:") && e.contains("ssl:1.2.3.4:6640"),
        "{e}"
    );
    let e = err(&[], "[networks.bridges]\nbr0 = \"not-a-uuid\"\n");
    assert!(e.contains("networks.bridges") && e.contains("br0"), "{e}");
    let e = err(
        &[],
        &format!("[networks.mac_prefixes]\n\"zz:16\" = \"{NET}\"\n"),
    );
    assert!(
        e.contains("networks.mac_prefixes") && e.contains("zz:16"),
        "{e}"
    );
    assert!(
        parse("[networks]\nvlans = {}\n").is_err(),
        "unknown keys are errors"
    );
}

#[test]
fn a_bad_value_from_the_file_names_its_line_and_one_from_a_flag_does_not() {
    let text = "\nresolvers = [\"ovsdb\", \"bogus\"]\n";
    let file = parse(text).unwrap();
    let e = source_of(&[], &file, text).unwrap_err();
    assert!(
        e.starts_with("line 2: resolvers: unknown resolver \"bogus\""),
        "{e}"
    );
    let e = source_of(&["--resolvers", "nope"], &file, text).unwrap_err();
    assert!(e.starts_with("resolvers: unknown resolver \"nope\""), "{e}");
}
