use hypernodes::node;

struct Opaque;

#[node]
fn f(x: i64) -> Result<i64, Opaque> {
    Ok(x)
}

fn main() {}
