use hypernodes::node;

#[node]
struct S;

fn main() {}
