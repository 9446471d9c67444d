//! `#[node]`: declares a Rust function as a HyperNodes node.
use proc_macro::TokenStream;

/// Placeholder replaced below.
#[proc_macro_attribute]
pub fn node(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
