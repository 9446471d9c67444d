//! `#[node]`: declares a Rust function as a HyperNodes node.
//!
//! This crate is re-exported by `hypernodes` as `hypernodes::node`; depend on `hypernodes`, not on
//! this crate directly.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Error, Expr, ExprLit, FnArg, GenericArgument, ItemFn, Lit, LitStr, Meta, Pat, PathArguments,
    ReturnType, Token, Type,
};

/// Declares a function as a HyperNodes node.
///
/// The function stays as it is (still callable directly). Beside it the attribute emits a handle of
/// the same name in the type namespace (an empty braced struct, so it does not clash with the
/// function), with the function's visibility, whose `node()` returns a fresh [`Node`]:
/// `Pipeline::new([double::node(), divmod::node()])`. This works for functions declared in a module
/// and inside a block (e.g. in a test function) alike. Parameters are wired by name: a parameter takes
/// the output of the same name (or a root input of the run). Their names and types are recorded, so a
/// consumer whose parameter type differs from its producer's output type is an error when the
/// pipeline is built.
///
/// Arguments (all optional):
/// - `output = "name"`: the single output's name (default: the function's name);
/// - `outputs = ("q", "r")`: several outputs; the function must return a tuple type of that arity
///   (written out, e.g. `-> (i64, i64)` or `-> Result<(i64, i64), E>`), one output per element;
/// - `name = "node_name"`: the node's name (default: the function's name);
/// - `cache = false`: do not cache this node's results (cached by default);
/// - `version = "v2"`: pin the code version used in cache keys (default: the node's code identity,
///   the function's tokens without comments, whitespace or attributes, so editing the function
///   invalidates its cache entries).
///
/// A function returning `Result<T, E>` (any type whose last path segment is `Result`, so
/// `io::Result<T>` and `anyhow::Result<T>` too) is fallible: `Ok(T)` gives the outputs, `Err(e)` becomes
/// the node's error (`E: Into<BoxError>`), which reaches the caller as `Error::Node` naming the node
/// and the pipeline path. A function returning nothing has one output of type `()`.
///
/// Parameter and output types must be `Clone + Send + Sync + 'static`. Values are shared between nodes
/// (one `Arc` each), so the parameter type says whether a node copies:
/// - `x: &T` reads the shared value: no copy, whatever its size (`&str` and `&[T]` are not accepted:
///   take `&String` or `&Vec<T>`; `&mut T` is not accepted: values are shared);
/// - `x: T` gets its own `T`: a clone of the shared value (moved without a clone only when the call
///   holds the last reference to it), which the node may change freely.
///
/// Take large values (buffers, tables, parsed files) by reference. The port type of `x: &T` is `T`,
/// so a `&T` parameter wires to a `T` output like a `T` parameter does. Parameters must be plain
/// identifiers (`x: i64`, `mut x: i64`).
/// An `async fn` node is awaited on the engine's tokio runtime by the thread that runs it (so under
/// "async" or "threaded" execution up to `max_workers` of them make progress together); its future
/// must be `Send`. Generic, `unsafe` functions and methods are not supported (compile errors), nor are
/// functions named like a primitive type (`fn str(..)`), whose handle would shadow the type.
///
/// # Example
///
/// ```
/// use hypernodes::{inputs, node, Pipeline};
///
/// #[node(output = "doubled")]
/// fn double(x: i64) -> i64 {
///     x * 2
/// }
///
/// #[node(outputs = ("q", "r"))]
/// fn divmod(doubled: i64, b: i64) -> (i64, i64) {
///     (doubled / b, doubled % b)
/// }
///
/// #[derive(Debug)]
/// struct Negative;
/// impl std::fmt::Display for Negative {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("negative quotient")
///     }
/// }
/// impl std::error::Error for Negative {}
///
/// #[node(output = "root", cache = false, version = "v2", name = "checked_root")]
/// fn root(q: i64) -> Result<f64, Negative> {
///     if q < 0 { Err(Negative) } else { Ok((q as f64).sqrt()) }
/// }
///
/// # fn main() -> Result<(), hypernodes::Error> {
/// assert_eq!(double(3), 6); // the function is unchanged
/// let p = Pipeline::new([root::node(), divmod::node(), double::node()])?; // any order
/// assert_eq!(p.inputs(), ["b", "x"]);
/// let out = p.run(inputs! {"x" => 16_i64, "b" => 5_i64}, None)?;
/// assert_eq!(out.get::<i64>("q"), Some(&6));
/// assert_eq!(out.get::<i64>("r"), Some(&2));
/// assert_eq!(out.get::<f64>("root"), Some(&6_f64.sqrt()));
///
/// let err = p.run(inputs! {"x" => -16_i64, "b" => 5_i64}, None).unwrap_err();
/// assert!(matches!(err, hypernodes::Error::Node { ref node, .. } if node == "checked_root"));
/// # Ok(())
/// # }
/// ```
///
/// Tuple outputs are checked against the return type at compile time:
///
/// ```compile_fail
/// # use hypernodes::node;
/// #[node(outputs = ("q", "r", "extra"))]
/// fn divmod(a: i64, b: i64) -> (i64, i64) {
///     (a / b, a % b)
/// }
/// # fn main() {}
/// ```
///
/// and so are parameter types (they must be `Clone`, among others):
///
/// ```compile_fail
/// # use hypernodes::node;
/// struct NotClone;
/// #[node]
/// fn take(x: NotClone) -> i64 {
///     0
/// }
/// # fn main() {}
/// ```
///
/// [`Node`]: ../hypernodes/struct.Node.html
#[proc_macro_attribute]
pub fn node(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2: TokenStream2 = item.clone().into();
    let func = match syn::parse::<ItemFn>(item) {
        Ok(f) => f,
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(item2);
            return out.into();
        }
    };
    match expand(attr.into(), &func) {
        Ok(generated) => {
            // `&Vec<T>` and `&String` parameters are how a node borrows a shared value (a slice
            // cannot be one): clippy's advice to take `&[T]` or `&str` does not apply.
            let mut func = func;
            let borrows = func.sig.inputs.iter().any(|a| match a {
                FnArg::Typed(pt) => borrowed(&pt.ty).is_some(),
                FnArg::Receiver(_) => false,
            });
            if borrows {
                func.attrs
                    .push(syn::parse_quote!(#[allow(clippy::ptr_arg)]));
            }
            quote!(#func #generated).into()
        }
        Err(e) => {
            // Keep the function so that the only errors reported are ours.
            let err = e.to_compile_error();
            quote!(#func #err).into()
        }
    }
}

/// The parsed arguments of `#[node(...)]`.
#[derive(Default)]
struct Args {
    output: Option<LitStr>,
    outputs: Option<(Span, Vec<LitStr>)>,
    name: Option<LitStr>,
    cache: Option<bool>,
    version: Option<LitStr>,
}

fn parse_args(attr: TokenStream2) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let mut args = Args::default();
    for meta in metas {
        let nv = match meta {
            Meta::NameValue(nv) => nv,
            other => {
                return Err(Error::new_spanned(
                    other,
                    "expected `key = value` (keys: output, outputs, name, cache, version)",
                ))
            }
        };
        let key = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let dup = |present: bool| -> syn::Result<()> {
            if present {
                Err(Error::new_spanned(
                    &nv.path,
                    format!("`{key}` is given twice"),
                ))
            } else {
                Ok(())
            }
        };
        match key.as_str() {
            "output" => {
                dup(args.output.is_some())?;
                args.output = Some(lit_str(&nv.value)?);
            }
            "outputs" => {
                dup(args.outputs.is_some())?;
                args.outputs = Some((nv.value.span(), lit_strs(&nv.value)?));
            }
            "name" => {
                dup(args.name.is_some())?;
                args.name = Some(lit_str(&nv.value)?);
            }
            "version" => {
                dup(args.version.is_some())?;
                args.version = Some(lit_str(&nv.value)?);
            }
            "cache" => {
                dup(args.cache.is_some())?;
                args.cache = Some(lit_bool(&nv.value)?);
            }
            _ => return Err(Error::new_spanned(
                &nv.path,
                "unknown #[node] argument; expected one of: output, outputs, name, cache, version",
            )),
        }
    }
    if let (Some(o), Some(_)) = (&args.output, &args.outputs) {
        return Err(Error::new_spanned(
            o,
            "give either `output = \"..\"` or `outputs = (..)`, not both",
        ));
    }
    for lit in args
        .name
        .iter()
        .chain(&args.output)
        .chain(args.outputs.iter().flat_map(|o| &o.1))
    {
        if lit.value().is_empty() {
            return Err(Error::new_spanned(lit, "names must not be empty"));
        }
    }
    if let Some((_, outs)) = &args.outputs {
        for (i, a) in outs.iter().enumerate() {
            if outs[..i].iter().any(|b| b.value() == a.value()) {
                return Err(Error::new_spanned(
                    a,
                    format!("the output name \"{}\" is given twice", a.value()),
                ));
            }
        }
    }
    Ok(args)
}

fn lit_str(e: &Expr) -> syn::Result<LitStr> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        Expr::Group(g) => lit_str(&g.expr),
        _ => Err(Error::new_spanned(e, "expected a string literal")),
    }
}

fn lit_bool(e: &Expr) -> syn::Result<bool> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        Expr::Group(g) => lit_bool(&g.expr),
        _ => Err(Error::new_spanned(e, "expected `true` or `false`")),
    }
}

/// `("q", "r")`, `["q", "r"]`, `("q")` or `"q"`.
fn lit_strs(e: &Expr) -> syn::Result<Vec<LitStr>> {
    let elems: Vec<&Expr> = match e {
        Expr::Tuple(t) => t.elems.iter().collect(),
        Expr::Array(a) => a.elems.iter().collect(),
        Expr::Paren(p) => vec![&*p.expr],
        Expr::Group(g) => return lit_strs(&g.expr),
        Expr::Lit(_) => vec![e],
        _ => {
            return Err(Error::new_spanned(
                e,
                "expected a tuple of string literals, e.g. (\"q\", \"r\")",
            ))
        }
    };
    if elems.is_empty() {
        return Err(Error::new_spanned(e, "a node needs at least one output"));
    }
    elems.into_iter().map(lit_str).collect()
}

/// When `ty` is `Result<T, ..>` (last path segment `Result`), `T`.
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(tp) = ty else { return None };
    if tp.qself.is_some() {
        return None;
    }
    let seg = tp.path.segments.last()?;
    if seg.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(ab) = &seg.arguments else {
        return None;
    };
    ab.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// Strips invisible groups and parentheses around a type.
fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => peel(&g.elem),
        Type::Paren(p) => peel(&p.elem),
        _ => ty,
    }
}

/// When a parameter type is a borrow `&T` (not `&'static`), `T`: the node gets a reference to the
/// shared value, without a copy.
fn borrowed(ty: &Type) -> Option<&Type> {
    match peel(ty) {
        Type::Reference(r) if r.lifetime.as_ref().is_none_or(|l| l.ident != "static") => {
            Some(&r.elem)
        }
        _ => None,
    }
}

fn check_param_type(ty: &Type) -> syn::Result<()> {
    let Some(inner) = borrowed(ty) else {
        return check_type(ty, "parameter");
    };
    let Type::Reference(r) = peel(ty) else {
        unreachable!("borrowed() matched a reference")
    };
    if r.mutability.is_some() {
        return Err(Error::new_spanned(
            ty,
            "a node parameter cannot be `&mut`: values are shared between nodes; take `&T` to \
             read it or `T` for an owned copy",
        ));
    }
    if r.lifetime.is_some() {
        return Err(Error::new_spanned(
            ty,
            "a node parameter borrow cannot name a lifetime: write `&T`",
        ));
    }
    let unsized_hint = match peel(inner) {
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => Some("`&String`"),
        Type::Slice(_) => Some("`&Vec<T>`"),
        Type::TraitObject(_) => Some("a reference to a concrete type"),
        _ => None,
    };
    if let Some(hint) = unsized_hint {
        return Err(Error::new_spanned(
            ty,
            format!(
                "a node parameter borrows a value passed between nodes, which has a sized, owned \
                 type: take {hint} (or the owned type) instead"
            ),
        ));
    }
    check_type(inner, "parameter")
}

fn check_type(ty: &Type, what: &str) -> syn::Result<()> {
    match peel(ty) {
        Type::Reference(r) if r.mutability.is_some() => Err(Error::new_spanned(
            ty,
            format!("a node {what} cannot be `&mut`: values are shared between nodes"),
        )),
        Type::Reference(r) if r.lifetime.as_ref().is_none_or(|l| l.ident != "static") => {
            Err(Error::new_spanned(
                ty,
                format!(
                    "a node {what} is passed by value between nodes: use an owned type (e.g. `String` \
                     instead of `&str`, `Vec<T>` instead of `&[T]`)"
                ),
            ))
        }
        Type::ImplTrait(_) => Err(Error::new_spanned(
            ty,
            format!("a node {what} cannot be `impl Trait`: give a concrete type"),
        )),
        Type::Infer(_) | Type::Never(_) => Err(Error::new_spanned(
            ty,
            format!("a node {what} needs a concrete type"),
        )),
        _ => Ok(()),
    }
}

fn expand(attr: TokenStream2, func: &ItemFn) -> syn::Result<TokenStream2> {
    let args = parse_args(attr)?;
    let sig = &func.sig;
    if let Some(u) = &sig.unsafety {
        return Err(Error::new_spanned(u, "a node function cannot be `unsafe`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new_spanned(
            &sig.generics,
            "a node function cannot be generic: its parameter and output types are recorded",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(Error::new_spanned(v, "a node function cannot be variadic"));
    }

    let fn_ident = &sig.ident;
    let fn_name = fn_ident.unraw().to_string();
    const PRIMITIVES: [&str; 17] = [
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    if PRIMITIVES.contains(&fn_name.as_str()) {
        return Err(Error::new_spanned(
            fn_ident,
            format!(
                "a node function cannot be named `{fn_name}`: its `{fn_name}::node()` handle would \
                 shadow the primitive type; rename the function (the node and output names can \
                 stay `{fn_name}` with `name = ..` and `output = ..`)"
            ),
        ));
    }

    // Parameters: names and types.
    let mut param_names = Vec::new();
    let mut param_types = Vec::new();
    let mut param_borrowed = Vec::new();
    for input in &sig.inputs {
        let pt = match input {
            FnArg::Receiver(r) => {
                return Err(Error::new_spanned(
                    r,
                    "a node function cannot take `self`: write a free function",
                ))
            }
            FnArg::Typed(pt) => pt,
        };
        let ident = match &*pt.pat {
            Pat::Ident(pi) if pi.subpat.is_none() => &pi.ident,
            other => return Err(Error::new_spanned(
                other,
                "node parameters must be plain identifiers (`x: T`): their names wire the node \
                     to the outputs and inputs of the same name",
            )),
        };
        check_param_type(&pt.ty)?;
        param_names.push(ident.unraw().to_string());
        param_borrowed.push(borrowed(&pt.ty).is_some());
        param_types.push(borrowed(&pt.ty).unwrap_or(&pt.ty).clone());
    }

    // Return type: fallible or not, and its output types.
    let ret_ty: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, t) => (**t).clone(),
    };
    let (fallible, value_ty) = match result_ok_type(&ret_ty) {
        Some(t) => (true, t.clone()),
        None => (false, ret_ty.clone()),
    };
    let (output_names, output_types, tuple): (Vec<String>, Vec<Type>, bool) = match &args.outputs {
        Some((span, names)) if names.len() > 1 => {
            let elems = match peel(&value_ty) {
                Type::Tuple(t) => t.elems.iter().cloned().collect::<Vec<_>>(),
                _ => {
                    return Err(Error::new(
                        value_ty.span(),
                        format!(
                            "`outputs` names {} values, so the function must return a tuple of {} \
                             elements written out (e.g. `-> ({})`)",
                            names.len(),
                            names.len(),
                            vec!["T"; names.len()].join(", ")
                        ),
                    ))
                }
            };
            if elems.len() != names.len() {
                return Err(Error::new(
                    *span,
                    format!(
                        "`outputs` names {} values but the function returns a tuple of {}",
                        names.len(),
                        elems.len()
                    ),
                ));
            }
            (names.iter().map(LitStr::value).collect(), elems, true)
        }
        Some((_, names)) => (vec![names[0].value()], vec![value_ty.clone()], false),
        None => {
            let name = args
                .output
                .as_ref()
                .map_or_else(|| fn_name.clone(), LitStr::value);
            (vec![name], vec![value_ty.clone()], false)
        }
    };
    for t in &output_types {
        check_type(t, "output")?;
    }

    let node_name = args
        .name
        .as_ref()
        .map_or_else(|| fn_name.clone(), LitStr::value);
    let n_params = param_names.len();
    let n_outputs = output_names.len();

    // Generated code.
    let hn = quote!(::hypernodes);
    let arg_vars: Vec<_> = (0..n_params)
        .map(|i| format_ident!("__hn_arg{}", i))
        .collect();
    let param_ports = param_names
        .iter()
        .zip(&param_types)
        .map(|(n, t)| quote_spanned!(t.span()=> #hn::Port::new(#n, #hn::Typed::<#t>::arc())));
    let output_ports = output_names
        .iter()
        .zip(&output_types)
        .map(|(n, t)| quote_spanned!(t.span()=> #hn::Port::new(#n, #hn::Typed::<#t>::arc())));
    let unpack = param_names
        .iter()
        .zip(&param_types)
        .enumerate()
        .map(|(i, (n, t))| {
            let var = &arg_vars[i];
            let bad = quote! {
                return ::core::result::Result::Err(::std::boxed::Box::new(
                    #hn::Error::BadArgument {
                        node: ::std::string::String::from(#node_name),
                        param: ::std::string::String::from(#n),
                        message: ::std::format!(
                            "expected a value of type {}",
                            ::core::any::type_name::<#t>()
                        ),
                    },
                ));
            };
            let slot = format_ident!("__hn_slot{}", i);
            if param_borrowed[i] {
                // a reference into the shared value: no copy
                quote_spanned! {t.span()=>
                    let #slot: #hn::Value = __hn_it.next().expect("arity checked above");
                    let #var: &#t = match #slot.downcast_ref::<#t>() {
                        ::core::option::Option::Some(v) => v,
                        ::core::option::Option::None => { #bad }
                    };
                }
            } else {
                // moved out when this call holds the only reference, cloned otherwise
                quote_spanned! {t.span()=>
                    let #var: #t = match #hn::for_binding::take_arg::<#t>(
                        __hn_it.next().expect("arity checked above"),
                    ) {
                        ::core::option::Option::Some(v) => v,
                        ::core::option::Option::None => { #bad }
                    };
                }
            }
        });
    let call = match sig.asyncness {
        // an `async fn` node is driven on the engine's tokio runtime by the thread that runs it
        Some(_) => quote!(#hn::executor_api::block_on(#fn_ident(#(#arg_vars),*))),
        None => quote!(#fn_ident(#(#arg_vars),*)),
    };
    let call = if fallible {
        // Spanned on the return type, so that an error type without `Into<BoxError>` is reported there.
        quote_spanned! {ret_ty.span()=>
            match #call {
                ::core::result::Result::Ok(v) => v,
                ::core::result::Result::Err(e) => {
                    return ::core::result::Result::Err(
                        ::core::convert::Into::<#hn::BoxError>::into(e),
                    );
                }
            }
        }
    } else {
        call
    };
    let wrap = if tuple {
        let outs: Vec<_> = (0..n_outputs)
            .map(|i| format_ident!("__hn_out{}", i))
            .collect();
        quote! {
            let (#(#outs),*) = __hn_ret;
            ::core::result::Result::Ok(::std::vec![#(#hn::value(#outs)),*])
        }
    } else {
        quote!(::core::result::Result::Ok(
            ::std::vec![#hn::value(__hn_ret)]
        ))
    };
    let with_cache = args.cache.map(|c| quote!(.with_cache(#c)));
    let with_version = args.version.as_ref().map(|v| quote!(.with_version(#v)));

    // The code identity: the function's tokens without its attributes (comments, whitespace and
    // doc comments do not count), and the node's declaration.
    let code = {
        let mut f = func.clone();
        f.attrs.clear();
        let decl = format!("#[node] {:?} -> {:?}\n", param_names, output_names);
        decl + &f.to_token_stream().to_string()
    };

    let vis = &func.vis;
    let cfgs: Vec<_> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let type_doc = format!(
        "The HyperNodes node of [`fn@{fn_name}`] (declared with `#[node]`): build it with `{fn_name}::node()`."
    );
    let node_doc = format!(
        "The node `{node_name}`: takes ({}), gives ({}).",
        param_names.join(", "),
        output_names.join(", ")
    );
    // The handle `double::node()` is a braced struct named like the function: braced structs live only
    // in the type namespace, so it does not clash with the function, and its impls resolve names in the
    // function's own scope (they work for functions declared inside a block too).
    Ok(quote! {
        #(#cfgs)*
        #[doc = #type_doc]
        #[allow(non_camel_case_types, clippy::all)]
        #vis struct #fn_ident {}

        #(#cfgs)*
        impl #hn::NodeFn for #fn_ident {
            fn call(
                &self,
                __hn_args: ::std::vec::Vec<#hn::Value>,
            ) -> ::core::result::Result<::std::vec::Vec<#hn::Value>, #hn::BoxError> {
                if __hn_args.len() != #n_params {
                    return ::core::result::Result::Err(::std::boxed::Box::new(
                        #hn::Error::Config(::std::format!(
                            "node '{}' takes {} arguments, got {}",
                            #node_name,
                            #n_params,
                            __hn_args.len()
                        )),
                    ));
                }
                #[allow(unused_mut, unused_variables)]
                let mut __hn_it = __hn_args.into_iter();
                #(#unpack)*
                let __hn_ret = #call;
                #wrap
            }

            fn code_identity(&self) -> ::std::vec::Vec<u8> {
                ::std::vec::Vec::from(#code.as_bytes())
            }
        }

        #(#cfgs)*
        #[allow(clippy::all)]
        impl #fn_ident {
            #[doc = #node_doc]
            #vis fn node() -> #hn::Node {
                #hn::Node::new(
                    #node_name,
                    ::std::vec![#(#param_ports),*],
                    ::std::vec![#(#output_ports),*],
                    #fn_ident {},
                )
                .expect("#[node] checks names at compile time")
                #with_cache
                #with_version
            }
        }
    })
}
