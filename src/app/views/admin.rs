//! The admin view (`/admin`): the operator's token, asked for once and kept for this tab's
//! session only; with it every message has `Delete message` and every fingerprint `Ban author`.
//! Its code loads with the admin page, after the page is interactive.

use leptos::prelude::*;

use super::lazy::{Lazy, lazy_view};
use crate::app::state::use_chat;

#[component]
pub fn Admin() -> impl IntoView {
    let chat = use_chat();
    // The server renders none of it: the form comes once its code has.
    move || {
        chat.hydrated
            .get()
            .then(|| view! { <Lazy load=admin_sign_in what="admin sign-in"/> })
    }
}

lazy_view! {
    fn admin_sign_in() -> AnyView {
        let chat = use_chat();
        let token = RwSignal::new(String::new());
        let submit = move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            chat.sign_in_admin(token.get_untracked());
        };
        view! {
            <form class="admin" on:submit=submit>
                <label for="admin-token">"Admin token"</label>
                <input
                    id="admin-token"
                    type="password"
                    autocomplete="off"
                    on:input=move |ev| token.set(event_target_value(&ev))
                />
                <button type="submit">"Sign in"</button>
                <span role="status">
                    {move || chat.admin.with(|admin| admin.is_some().then_some("Signed in as admin"))}
                </span>
            </form>
        }
        .into_any()
    }
}
