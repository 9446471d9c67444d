//! Values are shared between nodes: a `#[node]` parameter `&T` reads the shared value without a copy;
//! a parameter `T` gets its own copy (a clone, unless the call holds the only reference).

use std::sync::atomic::{AtomicUsize, Ordering};

use hypernodes::{inputs, node, Pipeline};

static CLONES: AtomicUsize = AtomicUsize::new(0);
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Debug, PartialEq)]
struct Blob(Vec<u8>);

impl Clone for Blob {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Blob(self.0.clone())
    }
}

#[node(output = "blob")]
fn make(size: usize) -> Blob {
    Blob(vec![7; size])
}

#[node(output = "len_a")]
fn len_a(blob: &Blob) -> usize {
    blob.0.len()
}

#[node(output = "sum_b")]
fn sum_b(blob: &Blob, scale: &u64) -> u64 {
    blob.0.iter().map(|&b| u64::from(b)).sum::<u64>() * scale
}

#[node(output = "first_c")]
async fn first_c(blob: &Blob) -> u8 {
    blob.0[0]
}

#[node(output = "owned_d")]
fn owned_d(blob: Blob) -> usize {
    let mut b = blob;
    b.0.push(1); // an owned copy may be changed: the shared value stays as it was
    b.0.len()
}

fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = CLONES.load(Ordering::SeqCst);
    let out = f();
    (out, CLONES.load(Ordering::SeqCst) - before)
}

#[test]
fn borrowed_parameters_read_the_shared_value_without_a_copy() {
    let p = Pipeline::new([make::node(), len_a::node(), sum_b::node(), first_c::node()]).unwrap();
    let (out, clones) = counted(|| {
        p.run(inputs! {"size" => 1000_usize, "scale" => 2_u64}, None)
            .unwrap()
    });
    assert_eq!(clones, 0);
    assert_eq!(out.get::<usize>("len_a"), Some(&1000));
    assert_eq!(out.get::<u64>("sum_b"), Some(&14000));
    assert_eq!(out.get::<u8>("first_c"), Some(&7));
}

#[test]
fn an_owned_parameter_gets_its_own_copy() {
    let p = Pipeline::new([make::node(), owned_d::node(), len_a::node()]).unwrap();
    let (out, clones) = counted(|| p.run(inputs! {"size" => 10_usize}, None).unwrap());
    assert_eq!(clones, 1, "one copy for the one owned parameter");
    assert_eq!(out.get::<usize>("owned_d"), Some(&11));
    assert_eq!(out.get::<Blob>("blob").map(|b| b.0.len()), Some(10));
}

#[test]
fn a_borrowed_parameter_is_typed_as_the_value_it_borrows() {
    let n = len_a::node();
    assert!(n.params()[0].ty.type_name().ends_with("Blob"));
    // a producer of another type is a build error, as for owned parameters
    #[node(output = "blob")]
    fn wrong(size: usize) -> Vec<u8> {
        vec![0; size]
    }
    let err = Pipeline::new([wrong::node(), len_a::node()]).unwrap_err();
    assert!(err.to_string().contains("type mismatch on 'blob'"), "{err}");
    // and a given input of another type is rejected before the run
    let p = Pipeline::new([len_a::node()]).unwrap();
    let err = p.run(inputs! {"blob" => vec![1_u8]}, None).unwrap_err();
    assert!(err.to_string().contains("takes Blob, got Vec<u8>"), "{err}");
}

#[test]
fn the_last_reader_of_a_value_the_run_does_not_return_takes_it_without_a_copy() {
    let p = Pipeline::new([make::node(), owned_d::node(), len_a::node()]).unwrap();
    let wanted = ["owned_d".to_string(), "len_a".to_string()];
    let (out, clones) = counted(|| p.run(inputs! {"size" => 10_usize}, Some(&wanted)).unwrap());
    assert_eq!(
        clones, 0,
        "owned_d reads blob last and blob is not returned"
    );
    assert_eq!(out.get::<usize>("owned_d"), Some(&11));
    assert_eq!(out.get::<usize>("len_a"), Some(&10));
    // returned, the value is kept for the caller: the owned parameter gets a copy
    let (_, clones) = counted(|| p.run(inputs! {"size" => 10_usize}, None).unwrap());
    assert_eq!(clones, 1);
}
