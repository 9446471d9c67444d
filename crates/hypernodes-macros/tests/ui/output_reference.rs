use hypernodes::node;

#[node]
fn f(x: i64) -> &'static mut i64 {
    let _ = x;
    unimplemented!()
}

fn main() {}
