use std::time::Duration;
use vifd::ovn::{parse_remotes, read_state, Wanted};

#[tokio::test]
async fn scratch() {
    let remotes = parse_remotes("unix:/tmp/sb/nothere.sock,unix:/tmp/sb/sb.sock").unwrap();
    let wanted = Wanted {
        ports: ["aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002", "nope"].iter().map(|s| s.to_string()).collect(),
        system_id: Some("hv-a".into()),
    };
    let t = std::time::Instant::now();
    let s = read_state(&remotes, wanted, Duration::from_secs(2)).await.unwrap();
    println!("{:?} {s:#?}", t.elapsed());
}
