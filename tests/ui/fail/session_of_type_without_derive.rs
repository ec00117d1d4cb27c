use session_runtime::Session;

struct NotDerived {
    count: u64,
}

fn handler(_session: Session<NotDerived>) {}

fn main() {
    let _ = handler;
    let _ = NotDerived { count: 0 }.count;
}
