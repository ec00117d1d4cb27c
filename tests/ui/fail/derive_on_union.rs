use session_runtime::Session;

#[derive(Session)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
