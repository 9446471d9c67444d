//! The columnar path of a map (`Pipeline::map_columns`): a plan made only of dual nodes whose batch
//! function takes columns (`BatchFn::columnar`), with no cache and no callbacks, is called once per
//! batch on slices of the mapped lists and returns its results as columns; the same batches and
//! answers as the staged path, which a cache sends the map back to.

use std::sync::{Arc, Mutex};

use hypernodes::{
    inputs, value, BatchArg, BatchFn, BoxError, ColumnArg, Error, MapMode, MapResults, MemoryCache,
    Node, NodeFn, Pipeline, Port, Setting, Typed, Value,
};

/// Each batch call: which path made it (`"columns"` or `"rows"`) and its number of items.
type Calls = Arc<Mutex<Vec<(&'static str, usize)>>>;

/// `out = input * k` for i64 lists; `short` drops an item from each batch's result.
struct Scale {
    k: i64,
    size: usize,
    short: bool,
    calls: Calls,
}

fn i(v: &Value) -> i64 {
    *v.downcast_ref::<i64>().expect("an i64")
}

impl NodeFn for Scale {
    fn call(&self, args: Vec<Value>) -> Result<Vec<Value>, BoxError> {
        self.calls.lock().unwrap().push(("one", 1));
        Ok(vec![value(i(&args[0]) * self.k)])
    }
    fn batch(&self) -> Option<&dyn BatchFn> {
        Some(self)
    }
}

impl BatchFn for Scale {
    fn call_batch(&self, args: Vec<BatchArg>, len: usize) -> Result<Vec<Vec<Value>>, BoxError> {
        self.calls.lock().unwrap().push(("rows", len));
        let BatchArg::Items(vs) = &args[0] else {
            return Err("expected the batch's values".into());
        };
        Ok(vs.iter().map(|v| vec![value(i(v) * self.k)]).collect())
    }
    fn batch_size(&self) -> usize {
        self.size
    }
    fn columnar(&self) -> bool {
        true
    }
    fn call_columns(&self, args: Vec<ColumnArg>, len: usize) -> Result<Vec<Value>, BoxError> {
        self.calls.lock().unwrap().push(("columns", len));
        let ColumnArg::Column(list) = &args[0] else {
            return Err("expected a column".into());
        };
        let xs = list.downcast_ref::<Vec<i64>>().ok_or("a Vec<i64> column")?;
        let keep = if self.short { len - 1 } else { len };
        Ok(vec![value(
            xs.iter()
                .take(keep)
                .map(|x| x * self.k)
                .collect::<Vec<i64>>(),
        )])
    }
}

fn scale(input: &str, output: &str, k: i64, size: usize, short: bool, calls: &Calls) -> Node {
    let f = Scale {
        k,
        size,
        short,
        calls: calls.clone(),
    };
    let ports = vec![Port::new(input, Typed::<i64>::arc())];
    Node::new(
        output,
        ports,
        vec![Port::new(output, Typed::<i64>::arc())],
        f,
    )
    .unwrap()
}

fn over() -> Vec<String> {
    vec!["x".to_string()]
}

#[test]
fn one_call_per_batch_and_results_as_columns() {
    let calls = Calls::default();
    let p = Pipeline::new([scale("x", "y", 3, 4, false, &calls)]).unwrap();
    let xs: Vec<i64> = (0..10).collect();
    let out = p
        .map_columns(inputs! {"x" => xs.clone()}, &over(), MapMode::Zip, None)
        .unwrap();
    let MapResults::Columns(cols) = out else {
        panic!("expected columns")
    };
    assert_eq!(cols.len(), 10);
    let (name, chunks) = &cols.outputs()[0];
    assert_eq!(&**name, "y");
    let lens: Vec<usize> = chunks
        .iter()
        .map(|c| c.downcast_ref::<Vec<i64>>().unwrap().len())
        .collect();
    assert_eq!(lens, [4, 4, 2]);
    let rows = cols.into_rows().unwrap();
    let ys: Vec<i64> = rows.iter().map(|o| *o.get::<i64>("y").unwrap()).collect();
    assert_eq!(ys, xs.iter().map(|x| x * 3).collect::<Vec<_>>());
    assert_eq!(
        *calls.lock().unwrap(),
        [("columns", 4), ("columns", 4), ("columns", 2)]
    );
    // `map` takes the same path and gives rows
    calls.lock().unwrap().clear();
    let rows = p
        .map(inputs! {"x" => xs.clone()}, &over(), MapMode::Zip, None)
        .unwrap();
    assert_eq!(rows.len(), 10);
    assert!(calls.lock().unwrap().iter().all(|c| c.0 == "columns"));
}

#[test]
fn a_chain_reads_across_the_first_nodes_batches() {
    let calls = Calls::default();
    let p = Pipeline::new([
        scale("x", "y", 2, 4, false, &calls),
        scale("y", "z", 10, 3, false, &calls),
    ])
    .unwrap();
    let xs: Vec<i64> = (0..11).collect();
    let rows = p
        .map(inputs! {"x" => xs.clone()}, &over(), MapMode::Zip, None)
        .unwrap();
    let zs: Vec<i64> = rows.iter().map(|o| *o.get::<i64>("z").unwrap()).collect();
    assert_eq!(zs, xs.iter().map(|x| x * 20).collect::<Vec<_>>());
    let sizes: Vec<usize> = calls.lock().unwrap().iter().map(|c| c.1).collect();
    assert_eq!(sizes, [4, 4, 3, 3, 3, 3, 2]);
}

#[test]
fn a_wrong_length_names_the_node_and_both_counts() {
    let calls = Calls::default();
    let p = Pipeline::new([scale("x", "y", 1, 4, true, &calls)]).unwrap();
    let err = p
        .map(
            inputs! {"x" => (0..6).collect::<Vec<i64>>()},
            &over(),
            MapMode::Zip,
            None,
        )
        .unwrap_err();
    match err {
        Error::BatchLength {
            node,
            expected,
            got,
        } => assert_eq!((node.as_str(), expected, got), ("y", 4, 3)),
        other => panic!("expected BatchLength, got {other:?}"),
    }
    // the map stopped at the failing batch
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[test]
fn with_a_cache_hits_are_left_out_of_the_batches() {
    let calls = Calls::default();
    let p = Pipeline::new([
        scale("x", "y", 3, 4, false, &calls),
        scale("y", "z", 10, 2, false, &calls),
    ])
    .unwrap()
    .with_cache(Setting::On(Arc::new(MemoryCache::new())));
    let run = |xs: Vec<i64>| {
        let out = p
            .map_columns(inputs! {"x" => xs}, &over(), MapMode::Zip, None)
            .unwrap();
        let MapResults::Columns(cols) = out else {
            panic!("a cache keeps the columnar path")
        };
        cols.into_rows()
            .unwrap()
            .iter()
            .map(|o| (*o.get::<i64>("y").unwrap(), *o.get::<i64>("z").unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run(vec![0, 1, 2, 3, 4, 5]),
        [(0, 0), (3, 30), (6, 60), (9, 90), (12, 120), (15, 150)]
    );
    assert_eq!(
        *calls.lock().unwrap(),
        [
            ("columns", 4),
            ("columns", 2),
            ("columns", 2),
            ("columns", 2),
            ("columns", 2)
        ]
    );
    // all hits: no call; then new items between hits: only they are batched
    calls.lock().unwrap().clear();
    assert_eq!(run(vec![5, 4, 3]), [(15, 150), (12, 120), (9, 90)]);
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(
        run(vec![1, 7, 2, 8, 9]),
        [(3, 30), (21, 210), (6, 60), (24, 240), (27, 270)]
    );
    assert_eq!(
        *calls.lock().unwrap(),
        [("columns", 3), ("columns", 2), ("columns", 1)]
    );
    // a run reads what the map stored
    calls.lock().unwrap().clear();
    let out = p.run(inputs! {"x" => 8_i64}, None).unwrap();
    assert_eq!(*out.get::<i64>("z").unwrap(), 240);
    assert!(calls.lock().unwrap().is_empty());
}
