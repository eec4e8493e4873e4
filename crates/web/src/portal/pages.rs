//! The portal's HTML (maud). Screens after sign-in: 1 my line, 2 before you cancel
//! (everything the customer should know, with the submit button always in view), 3
//! confirm with a code, 4 the case. Every page: skip link, language switch, labels,
//! visible focus, phone-sized layout, the anti-scam sentence in the footer.

use super::Customer;
use crate::console::i18n::t;
use crate::console::pages::{CSS, status_name, when};
use crate::console::{Ctx, url_encode};
use lineout_app::CaseDetail;
use lineout_app::ports::MessageRecord;
use lineout_domain::account::Account;
use lineout_domain::case::Step;
use lineout_domain::policy::RefundMethod;
use lineout_domain::{Case, Status};
use maud::{DOCTYPE, Markup, PreEscaped, html};

const PORTAL_CSS: &str = r#"
.primary{display:inline-block;background:var(--accent);color:#fff;padding:12px 20px;border-radius:4px;text-decoration:none;font-weight:700}
.notice{border-left:4px solid var(--accent);padding:8px 12px;margin:12px 0;background:#f3f6fc}
.scam{border-left:4px solid var(--warn);padding:8px 12px;margin:12px 0;background:#fdf3f3}
.pin{font-size:1.6em;letter-spacing:.15em;font-weight:700}
footer{padding:16px;border-top:1px solid var(--line);color:var(--muted);max-width:1000px;margin:0 auto}
"#;

fn layout(ctx: &Ctx, title: &str, customer: Option<&Customer>, body: Markup) -> Markup {
    let l = ctx.lang;
    let other = l.other();
    let here = ctx.path.split('?').next().unwrap_or("/portal");
    let switch = format!("/portal/lang?to={}&next={}", other.tag(), url_encode(here));
    html! {
        (DOCTYPE)
        html lang=(l.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · lineout" }
                style { (PreEscaped(CSS)) (PreEscaped(PORTAL_CSS)) }
            }
            body {
                a.skip href="#main" { (t(l, "skip")) }
                header {
                    span.brand { a href="/portal" { "lineout · " (t(l, "portal")) } }
                    a href=(switch) lang=(other.tag()) hreflang=(other.tag()) { (t(l, "language")) ": " (other.own_name()) }
                    @if let Some(c) = customer {
                        form method="post" action="/portal/logout" {
                            input type="hidden" name="csrf" value=(c.csrf);
                            button.secondary type="submit" { (t(l, "sign_out")) }
                        }
                    }
                }
                main #main tabindex="-1" { h1 { (title) } (body) }
                footer {
                    p.scam #anti-scam { (t(l, "anti_scam")) }
                    p { a href="/portal/authenticity" { (t(l, "check_code")) } }
                }
            }
        }
    }
}

fn error_box(ctx: &Ctx, error: Option<(&str, String)>) -> Markup {
    html! {
        @if let Some((code, message)) = error {
            div.error role="alert" {
                p { (message) }
                p.muted { (t(ctx.lang, "error_code")) ": " code #error-code { (code) } " · " (t(ctx.lang, "request_id")) ": " code { (ctx.request_id) } }
            }
        }
    }
}

fn masked(customer: &Customer) -> String {
    format!("••• ••• {}", customer.line.msisdn.last4())
}

pub fn sign_in(ctx: &Ctx, nonce: &str, error: Option<(&str, String)>) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "sign_in"),
        None,
        html! {
            (error_box(ctx, error))
            p { (t(l, "portal_intro")) }
            form.stack method="post" action="/portal/code" {
                input type="hidden" name="pre" value=(nonce);
                label for="msisdn" { (t(l, "phone_number")) }
                input #msisdn name="msisdn" type="tel" autocomplete="tel" required maxlength="32" autofocus;
                p { button #send-code type="submit" { (t(l, "send_code")) } }
            }
        },
    )
}

pub fn enter_code(ctx: &Ctx, nonce: &str, msisdn: &str, error: Option<(&str, String)>) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "sign_in"),
        None,
        html! {
            (error_box(ctx, error))
            p.notice { (t(l, "code_sent")) }
            form.stack method="post" action="/portal/sign-in" {
                input type="hidden" name="pre" value=(nonce);
                input type="hidden" name="msisdn" value=(msisdn);
                label for="code" { (t(l, "code")) }
                input #code name="code" inputmode="numeric" autocomplete="one-time-code" required minlength="6" maxlength="6" pattern="[0-9]{6}" autofocus;
                p { button #sign-in type="submit" { (t(l, "sign_in")) } }
            }
            form method="post" action="/portal/code" {
                input type="hidden" name="pre" value=(nonce);
                input type="hidden" name="msisdn" value=(msisdn);
                button.secondary type="submit" { (t(l, "new_code")) }
            }
        },
    )
}

/// Screen 1: the line, the way out, and the way to keep the number.
pub fn my_line(ctx: &Ctx, customer: &Customer, account: &Account, case: Option<&Case>, pin: Option<&str>) -> Markup {
    let l = ctx.lang;
    let open = case.filter(|c| !c.status.is_terminal());
    layout(
        ctx,
        t(l, "portal"),
        Some(customer),
        html! {
            dl.cards {
                div.card { dt { (t(l, "number")) } dd #masked { (masked(customer)) } }
                div.card { dt { (t(l, "holder")) } dd { (account.holder_name) } }
                div.card { dt { (t(l, "balance")) } dd #balance { (account.prepaid_balance) } }
            }
            @if let Some(c) = open {
                p { a.primary #view-case href="/portal/case" { (t(l, "view_case")) } " " span.muted { (t(l, "reference")) " " (c.id) } }
            } @else {
                p { a.primary #cancel-line href="/portal/cancel" { (t(l, "cancel_my_line")) } }
                @if case.is_some() { p { a href="/portal/case" { (t(l, "view_case")) } } }
            }
            form method="post" action="/portal/export" {
                input type="hidden" name="csrf" value=(customer.csrf);
                button.secondary type="submit" { (t(l, "download_data")) }
            }
            h2 { (t(l, "keep_number")) }
            @if let Some(pin) = pin {
                p { (t(l, "transfer_pin_is")) }
                p.pin #transfer-pin { (pin) }
            } @else {
                form method="post" action="/portal/transfer-pin" {
                    input type="hidden" name="csrf" value=(customer.csrf);
                    button.secondary #get-pin type="submit" { (t(l, "get_transfer_pin")) }
                }
            }
        },
    )
}

/// Screen 2: everything to know before cancelling, and the submit button in view.
pub fn before_cancel(
    ctx: &Ctx,
    customer: &Customer,
    account: &Account,
    must_return: bool,
    refund_methods: &[RefundMethod],
    default_method: RefundMethod,
) -> Markup {
    let l = ctx.lang;
    let owes = account.owed.cents > 0;
    layout(
        ctx,
        t(l, "before_cancel"),
        Some(customer),
        html! {
            form.stack #cancel-form method="post" action="/portal/cancel" {
                input type="hidden" name="csrf" value=(customer.csrf);
                label for="timing" { (t(l, "timing")) }
                select #timing name="timing" {
                    option value="immediate" { (t(l, "timing_asap")) }
                    option value="end_of_cycle" { (t(l, "timing_end_of_cycle")) }
                }
                label for="destination" { (t(l, "send_confirmation_to")) }
                select #destination name="destination" {
                    option value="line" { (t(l, "to_line")) " (" (masked(customer)) ")" }
                    @if account.email.is_some() { option value="email" { (t(l, "to_email")) } }
                    @if account.alt_phone.is_some() { option value="alt_phone" { (t(l, "to_alt_phone")) } }
                }
                @if !refund_methods.is_empty() && account.prepaid_balance.cents > 0 {
                    label for="refund_method" { (t(l, "refund_method")) }
                    select #refund_method name="refund_method" {
                        @for m in refund_methods {
                            option value=(m.as_str()) selected[*m == default_method] { (t(l, refund_key(*m))) }
                        }
                    }
                }
                p { button #submit-cancel type="submit" { (t(l, "submit_cancel")) } }
            }
            p.notice #backup { (t(l, "backup")) }
            form method="post" action="/portal/export" {
                input type="hidden" name="csrf" value=(customer.csrf);
                button.secondary #download-data type="submit" { (t(l, "download_data")) }
            }
            dl.cards {
                div.card { dt { (t(l, "balance")) } dd #balance { (account.prepaid_balance) } }
                @if owes { div.card { dt { (t(l, "owed")) } dd #owed { (account.owed) } } }
            }
            p { (t(l, "refund_info")) }
            @if owes { p.notice { (t(l, "owed_info")) } }
            @if must_return { p.notice #device-return { (t(l, "device_info")) } }
            p.scam { (t(l, "anti_scam")) }
            h2 { (t(l, "keep_number")) }
            form method="post" action="/portal/transfer-pin" {
                input type="hidden" name="csrf" value=(customer.csrf);
                button.secondary type="submit" { (t(l, "get_transfer_pin")) }
            }
        },
    )
}

fn refund_key(m: RefundMethod) -> &'static str {
    match m {
        RefundMethod::OriginalPayment => "refund_original_payment",
        RefundMethod::Check => "refund_check",
        RefundMethod::AccountCredit => "refund_account_credit",
    }
}

/// The export just requested (or not ready yet): its single-use link.
pub fn export_requested(ctx: &Ctx, customer: &Customer, token: &str, not_ready: bool) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "download_data"),
        Some(customer),
        html! {
            @if not_ready { p.notice role="status" { (t(l, "export_not_ready")) } }
            p { (t(l, "export_requested")) }
            p { a.primary #export-link href={ "/portal/export/" (token) } { (t(l, "download_data")) } }
            p { a href="/portal" { (t(l, "back")) } }
        },
    )
}

/// Screen 3: the code that confirms the cancellation.
pub fn confirm(ctx: &Ctx, customer: &Customer, case: &Case, error: Option<(&str, String)>) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "confirm_title"),
        Some(customer),
        html! {
            (error_box(ctx, error))
            p { (t(l, "confirm_intro")) }
            p.muted { (t(l, "reference")) " " (case.id) }
            form.stack method="post" action="/portal/confirm" {
                input type="hidden" name="csrf" value=(customer.csrf);
                label for="code" { (t(l, "code")) }
                input #code name="code" inputmode="numeric" autocomplete="one-time-code" required minlength="6" maxlength="6" autofocus;
                p { button #confirm type="submit" { (t(l, "confirm")) } }
            }
        },
    )
}

fn next_step(case: &Case) -> &'static str {
    match case.status {
        Status::Verifying => "next_verifying",
        Status::Preparing => "next_preparing",
        Status::InReview => "next_in_review",
        Status::Approved => "next_approved",
        _ => "next_done",
    }
}

/// Screen 4: the case, what happens next, and what the customer can still do.
pub fn case(ctx: &Ctx, customer: &Customer, detail: &CaseDetail, error: Option<(&str, String)>) -> Markup {
    let l = ctx.lang;
    let c = &detail.case;
    let open = !c.status.is_terminal();
    layout(
        ctx,
        t(l, "your_case"),
        Some(customer),
        html! {
            (error_box(ctx, error))
            dl.cards {
                div.card { dt { (t(l, "reference")) } dd #reference { (c.id) } }
                div.card { dt { (t(l, "status")) } dd #case-status { (status_name(l, c.status)) } }
                @if let Some(at) = c.termination_at { div.card { dt { (t(l, "line_ends")) } dd { (when(at)) } } }
            }
            h2 { (t(l, "next_step")) }
            @if c.status == Status::Withdrawn {
                p #next-step { (t(l, "withdrawn_done")) }
            } @else {
                p #next-step { (t(l, next_step(c))) }
            }
            @if c.status == Status::Verifying { p { a.primary href="/portal/confirm" { (t(l, "confirm")) } } }
            @if open {
                form method="post" action="/portal/case/withdraw" {
                    input type="hidden" name="csrf" value=(customer.csrf);
                    button.secondary #withdraw type="submit" { (t(l, "withdraw")) }
                }
                form method="post" action="/portal/case/not-me" {
                    input type="hidden" name="csrf" value=(customer.csrf);
                    button.danger #not-me type="submit" { (t(l, "not_me")) }
                }
            }
            ul {
                li { a #statement href="/portal/case/statement" { (t(l, "statement")) } }
                @if c.device_return != Step::NotNeeded { li { a #label href="/portal/case/label" { (t(l, "return_label")) } } }
            }
            h2 { (t(l, "timeline")) }
            ol #timeline {
                @for e in &detail.events {
                    li { time datetime=(e.at.unix_timestamp()) { (when(e.at)) } " — " (e.kind.name().replace('_', " ")) }
                }
            }
        },
    )
}

pub fn authenticity(ctx: &Ctx, checked: Option<(&str, Option<&MessageRecord>)>) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "check_code"),
        None,
        html! {
            form.stack method="get" action="/portal/authenticity" {
                label for="auth-code" { (t(l, "auth_code")) }
                input #auth-code name="code" autocomplete="off" required maxlength="32";
                p { button #check type="submit" { (t(l, "check")) } }
            }
            @if let Some((code, found)) = checked {
                @match found {
                    Some(m) => p.notice #auth-result { code { (code) } ": " (t(l, "auth_ours")) " " (when(m.sent_at.unwrap_or(m.created_at))) "." },
                    None => p.scam #auth-result role="alert" { code { (code) } ": " (t(l, "auth_not_ours")) },
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use crate::console::i18n::has;

    #[test]
    fn every_key_the_portal_uses_is_translated() {
        let source = include_str!("pages.rs");
        for piece in source.split("t(l, \"").skip(1) {
            let key = piece.split('"').next().unwrap_or("");
            assert!(has(key), "missing translation for {key}");
        }
    }
}
