use session_runtime::Session;

#[derive(Session)]
struct Shop {
    // `NonZero` has no `Default`: a new session would have no value for it.
    visits: std::num::NonZeroU32,
}

fn main() {}
