//! DOM and timing helpers the browser tests share.
#![allow(clippy::unwrap_used)]

use wasm_bindgen::JsCast;

/// A fresh div in the page for one test.
pub fn test_div() -> web_sys::HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let div = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div.unchecked_into()
}

/// The text of the element `selector` finds under `root`; panics if none.
pub fn text(root: &web_sys::HtmlElement, selector: &str) -> String {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no element {selector}"))
        .text_content()
        .unwrap_or_default()
}

/// Waits `ms` milliseconds on the page's timer.
pub async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function =
            js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
                .unwrap()
                .unchecked_into();
        let _ = set_timeout.call2(&wasm_bindgen::JsValue::NULL, &resolve, &ms.into());
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

/// Lets the reactive system run its effects (they run on the microtask
/// queue after a change).
pub async fn settle() {
    sleep(5).await;
}
