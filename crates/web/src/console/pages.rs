//! The console's HTML, written with maud (escaped by default). One layout: a skip
//! link, the navigation the role may use, the language switch and sign-out; every
//! input has a label, focus is always visible, and the layout fits a phone screen.

use super::i18n::{Lang, t};
use super::{Ctx, Staff, url_encode};
use lineout_app::CaseDetail;
use lineout_app::ports::OutboxStats;
use lineout_app::staff::StaffRole;
use lineout_domain::case::Step;
use lineout_domain::{Case, Status};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use time::OffsetDateTime;

pub(crate) const CSS: &str = r#"
:root{--fg:#1a1a1a;--bg:#fff;--muted:#4a4a4a;--line:#c8c8c8;--accent:#0b57d0;--warn:#9a1b1b;--ok:#0f6b2f}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","WenQuanYi Micro Hei",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
a:focus,button:focus,input:focus,select:focus,textarea:focus,summary:focus{outline:3px solid #f9a825;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:8px;z-index:9}
header{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;padding:12px 16px;border-bottom:1px solid var(--line)}
header .brand{font-weight:700;margin-right:auto}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:4px 14px;margin:0;padding:0}
main{padding:16px;max-width:1000px;margin:0 auto}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
.overdue{color:var(--warn);font-weight:700}
.error{border:2px solid var(--warn);color:var(--warn);padding:8px 12px;margin:12px 0}
.ok{color:var(--ok)}
form.stack label{display:block;margin-top:10px;font-weight:600}
input,select,textarea,button{font:inherit;padding:8px;min-height:44px}
input[type=checkbox]{min-height:auto;width:20px;height:20px}
button{background:var(--accent);color:#fff;border:0;border-radius:4px;padding:8px 16px;cursor:pointer}
button.secondary{background:#fff;color:var(--accent);border:1px solid var(--accent)}
button.danger{background:var(--warn)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:12px}
.muted{color:var(--muted)}
@media (max-width:600px){th,td{padding:4px}header{padding:8px}}
"#;

/// Reasons a reviewer may give: (reject reason, en, zh).
pub const REJECT_REASONS: &[(&str, &str, &str)] = &[
    ("identity_not_verified", "Identity not verified", "身份未核实"),
    ("unpaid_balance", "Unpaid balance", "存在未结欠款"),
    ("line_not_eligible", "Line not eligible", "线路不符合条件"),
    ("duplicate_request", "Duplicate request", "重复申请"),
    ("suspected_fraud", "Suspected fraud", "疑似欺诈"),
    ("contract_terms", "Contract terms", "合同条款"),
    ("other", "Other", "其他"),
];

/// Photo ID document types an agent may attest: (key, en, zh).
pub const ID_TYPES: &[(&str, &str, &str)] = &[
    ("drivers_license", "Driver's license", "驾照"),
    ("state_id", "State ID card", "州身份证"),
    ("passport", "Passport", "护照"),
    ("residence_permit", "Residence permit (green card)", "居留证（绿卡）"),
    ("national_id", "National ID card", "国民身份证"),
    ("military_id", "Military ID", "军人证件"),
];

const CONDITIONS: &[(&str, &str, &str)] = &[
    ("like_new", "Like new", "几乎全新"),
    ("good", "Good", "良好"),
    ("damaged", "Damaged", "损坏"),
    ("broken", "Broken", "无法使用"),
];

fn pick(lang: Lang, en: &'static str, zh: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::ZhHans => zh,
    }
}

pub(crate) fn when(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.format(&f).unwrap_or_default()
}

pub(crate) fn status_name(lang: Lang, s: Status) -> String {
    let zh = match s {
        Status::Verifying => "核实身份中",
        Status::Preparing => "准备中",
        Status::InReview => "审核中",
        Status::Approved => "已批准",
        Status::AwaitingPort => "等待携号转出",
        _ => "",
    };
    if lang == Lang::ZhHans && !zh.is_empty() { zh.to_owned() } else { s.as_str().replace('_', " ") }
}

/// The page frame. `staff` is None on the sign-in page.
fn layout(ctx: &Ctx, title: &str, staff: Option<&Staff>, body: Markup) -> Markup {
    let l = ctx.lang;
    let other = l.other();
    // Back to the same page after the switch (its path only: a query may hold what was typed).
    let here = ctx.path.split('?').next().unwrap_or("/console");
    let switch = format!("/console/lang?to={}&next={}", other.tag(), url_encode(here));
    html! {
        (DOCTYPE)
        html lang=(l.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · lineout" }
                style { (PreEscaped(CSS)) }
            }
            body {
                a.skip href="#main" { (t(l, "skip")) }
                header {
                    span.brand { "lineout · " (t(l, "console")) }
                    @if let Some(s) = staff {
                        nav aria-label="console" {
                            ul {
                                @if s.may(&[]) { li { a href="/console/overview" { (t(l, "overview")) } } }
                                @if s.may(&[StaffRole::Agent]) { li { a href="/console/intake" { (t(l, "intake")) } } }
                                @if s.may(&[StaffRole::Reviewer]) { li { a href="/console/review" { (t(l, "review_queue")) } } }
                                @if s.may(&[StaffRole::Warehouse]) { li { a href="/console/warehouse" { (t(l, "warehouse")) } } }
                            }
                        }
                    }
                    a href=(switch) lang=(other.tag()) hreflang=(other.tag()) { (t(l, "language")) ": " (other.own_name()) }
                    @if let Some(s) = staff {
                        span.muted { (t(l, "signed_in_as")) " " (s.name) " (" (s.role.as_str()) ")" }
                        form method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button.secondary type="submit" { (t(l, "sign_out")) }
                        }
                    }
                }
                main #main tabindex="-1" { h1 { (title) } (body) }
            }
        }
    }
}

fn error_box(error: Option<(&str, String)>, ctx: &Ctx) -> Markup {
    html! {
        @if let Some((code, message)) = error {
            div.error role="alert" {
                p { (message) }
                p.muted { (t(ctx.lang, "error_code")) ": " code { (code) } " · " (t(ctx.lang, "request_id")) ": " code { (ctx.request_id) } }
            }
        }
    }
}

pub(crate) fn error_page(ctx: &Ctx, code: &str, message: &str) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "error"),
        None,
        html! {
            div.error role="alert" {
                p { (message) }
                p { (t(l, "error_code")) ": " code #error-code { (code) } }
                p { (t(l, "request_id")) ": " code { (ctx.request_id) } }
            }
            p { a href=(if ctx.path.starts_with("/portal") { "/portal" } else { "/console" }) { (t(l, "back")) } }
        },
    )
}

pub fn login(ctx: &Ctx, nonce: &str, next: &str, error: Option<(&str, String)>) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "sign_in"),
        None,
        html! {
            (error_box(error, ctx))
            form.stack method="post" action="/console/login" {
                input type="hidden" name="pre" value=(nonce);
                input type="hidden" name="next" value=(next);
                label for="username" { (t(l, "username")) }
                input #username name="username" autocomplete="username" required autofocus;
                label for="password" { (t(l, "password")) }
                input #password name="password" type="password" autocomplete="current-password" required;
                p { button type="submit" { (t(l, "sign_in")) } }
            }
        },
    )
}

fn case_table(ctx: &Ctx, cases: &[Case], now: Option<OffsetDateTime>) -> Markup {
    let l = ctx.lang;
    html! {
        @if cases.is_empty() { p { (t(l, "no_cases")) } } @else {
            table {
                thead { tr { th { (t(l, "case")) } th { (t(l, "status")) } th { (t(l, "channel")) } th { (t(l, "opened")) } th { (t(l, "due")) } } }
                tbody {
                    @for c in cases {
                        @let overdue = c.review_overdue || now.zip(c.review_due_at).is_some_and(|(n, d)| n > d);
                        tr.overdue[overdue] {
                            td { a href={ "/console/cases/" (c.id) } { (c.id) } }
                            td { (status_name(l, c.status)) }
                            td { (c.channel.as_str()) }
                            td { (when(c.opened_at)) }
                            td {
                                @if let Some(d) = c.review_due_at { (when(d)) }
                                @if overdue { " · " strong { (t(l, "overdue")) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn overview(
    ctx: &Ctx,
    staff: &Staff,
    counts: &[(Status, u64)],
    stats: &OutboxStats,
    overdue: &[Case],
    dead: &[lineout_app::ports::OutboxRow],
) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "overview"),
        Some(staff),
        html! {
            h2 { (t(l, "open_cases_by_state")) }
            div.cards {
                @for (s, n) in counts.iter().filter(|(s, _)| !s.is_terminal()) {
                    div.card { strong { (n) } " " (status_name(l, *s)) }
                }
            }
            h2 { (t(l, "overdue")) }
            (case_table(ctx, overdue, None))
            h2 { (t(l, "dead_letters")) }
            p #dead-letters { strong { (stats.dead) } }
            @if !dead.is_empty() {
                table {
                    thead { tr { th { (t(l, "case")) } th { (t(l, "effect")) } th { (t(l, "attempts")) } th { (t(l, "opened")) } } }
                    tbody {
                        @for row in dead {
                            tr {
                                td { a href={ "/console/cases/" (row.case_id) } { (row.case_id) } }
                                td { (row.kind) " · " code { (row.id) } }
                                td { (row.attempts) }
                                td { (when(row.created_at)) }
                            }
                        }
                    }
                }
            }
            h2 { (t(l, "pending_effects")) }
            p { strong { (stats.pending) } }
        },
    )
}

pub fn review_queue(ctx: &Ctx, staff: &Staff, cases: &[Case], now: OffsetDateTime) -> Markup {
    layout(ctx, t(ctx.lang, "review_queue"), Some(staff), case_table(ctx, cases, Some(now)))
}

pub fn warehouse(ctx: &Ctx, staff: &Staff, cases: &[Case]) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "warehouse"),
        Some(staff),
        html! {
            h2 { (t(l, "awaiting_device")) }
            @if cases.is_empty() { p { (t(l, "no_cases")) } } @else {
                table {
                    thead { tr { th { (t(l, "case")) } th { (t(l, "rma")) } th { (t(l, "deadline")) } th { (t(l, "status")) } } }
                    tbody {
                        @for c in cases {
                            tr {
                                td { a href={ "/console/cases/" (c.id) } { (c.id) } }
                                td { (c.rma.as_deref().unwrap_or("-")) }
                                td { @if let Some(d) = c.return_deadline { (when(d)) } }
                                td { @if c.device_arrived { (t(l, "arrived")) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn step(lang: Lang, s: Step) -> &'static str {
    match (s, lang) {
        (Step::Pending, Lang::En) => "pending",
        (Step::Pending, Lang::ZhHans) => "待处理",
        (Step::Done, Lang::En) => "done",
        (Step::Done, Lang::ZhHans) => "已完成",
        (_, Lang::En) => "not needed",
        (_, Lang::ZhHans) => "不需要",
    }
}

pub fn case_page(
    ctx: &Ctx,
    staff: &Staff,
    detail: &CaseDetail,
    holder: Option<&str>,
    error: Option<(&str, String)>,
) -> Markup {
    let l = ctx.lang;
    let c = &detail.case;
    let title = format!("{} {}", t(l, "case"), c.id);
    layout(
        ctx,
        &title,
        Some(staff),
        html! {
            (error_box(error, ctx))
            dl.cards {
                div.card { dt { (t(l, "status")) } dd #case-status { (status_name(l, c.status)) } }
                div.card { dt { (t(l, "number")) } dd { "••• ••• " (c.facts.msisdn.last4()) } }
                @if let Some(h) = holder { div.card { dt { (t(l, "holder")) } dd { (h) } } }
                div.card { dt { (t(l, "verification")) } dd { (step(l, c.verification)) } }
                div.card { dt { (t(l, "settlement")) } dd { (step(l, c.settlement)) } }
                div.card { dt { (t(l, "device_return")) } dd { (step(l, c.device_return)) } }
                div.card { dt { (t(l, "refund")) } dd { (step(l, c.refund)) } }
                @if let Some(d) = c.review_due_at { div.card { dt { (t(l, "due")) } dd.overdue[c.review_overdue] { (when(d)) } } }
                @if let Some(r) = c.risk.as_ref().filter(|r| r.score > 0) {
                    div.card #risk {
                        dt { (t(l, "risk")) }
                        dd.overdue[r.high] {
                            (r.score)
                            @for reason in &r.reasons { " · " (reason.code.replace('_', " ")) " +" (reason.points) }
                        }
                    }
                }
            }
            @if c.risk.as_ref().is_some_and(|r| r.high) && !c.status.is_terminal() {
                p.error #four-eyes role="note" {
                    (t(l, "four_eyes"))
                    @if let Some(first) = &c.first_approval_by { " · " (t(l, "first_approval")) " " (actor(first)) }
                }
            }
            @if c.status == Status::Verifying && c.verification_code.is_some() && staff.may(&[StaffRole::Agent]) {
                h2 { (t(l, "verification")) }
                form.stack method="post" action={ "/console/cases/" (c.id) "/verify-code" } {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    label for="verify-code" { (t(l, "code_received")) }
                    input #verify-code name="code" inputmode="numeric" autocomplete="off" required maxlength="6";
                    p { button #verify type="submit" { (t(l, "confirm")) } }
                }
            }
            @if c.status == Status::InReview && staff.may(&[StaffRole::Reviewer]) {
                h2 { (t(l, "actions")) }
                form.stack method="post" action={ "/console/cases/" (c.id) "/approve" } {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    label for="approve-note" { (t(l, "note")) }
                    input #approve-note name="note" maxlength="500";
                    p { button #approve type="submit" { (t(l, "approve")) } }
                }
                form.stack method="post" action={ "/console/cases/" (c.id) "/reject" } {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    label for="reject-reason" { (t(l, "reason")) }
                    select #reject-reason name="reason" required {
                        @for (k, en, zh) in REJECT_REASONS { option value=(k) { (pick(l, en, zh)) } }
                    }
                    label for="reject-note" { (t(l, "note")) }
                    input #reject-note name="note" maxlength="500";
                    p { button.danger #reject type="submit" { (t(l, "reject")) } }
                }
            }
            @if c.device_return == Step::Pending && matches!(c.status, Status::Verifying | Status::Preparing) && staff.may(&[StaffRole::Warehouse]) {
                h2 { (t(l, "actions")) }
                @if !c.device_arrived {
                    form.stack method="post" action={ "/console/cases/" (c.id) "/receive" } {
                        input type="hidden" name="csrf" value=(staff.csrf);
                        label for="imei" { (t(l, "imei")) }
                        input #imei name="imei" inputmode="numeric" autocomplete="off" required maxlength="20";
                        p { button #receive type="submit" { (t(l, "receive")) } }
                    }
                } @else {
                    form.stack method="post" action={ "/console/cases/" (c.id) "/inspect" } {
                        input type="hidden" name="csrf" value=(staff.csrf);
                        label for="condition" { (t(l, "condition")) }
                        select #condition name="condition" {
                            @for (k, en, zh) in CONDITIONS { option value=(k) { (pick(l, en, zh)) } }
                        }
                        label for="missing" { (t(l, "missing_accessories")) }
                        input #missing name="missing" maxlength="300";
                        label { input type="checkbox" name="model_matches" value="yes" checked; " " (t(l, "model_matches")) }
                        label for="notes" { (t(l, "note")) }
                        input #notes name="notes" maxlength="500";
                        p { button #inspect type="submit" { (t(l, "inspect")) } }
                    }
                }
            }
            h2 { (t(l, "timeline")) }
            ol #timeline {
                @for e in &detail.events {
                    li {
                        time datetime=(e.at.unix_timestamp()) { (when(e.at)) } " — "
                        strong { (e.kind.name().replace('_', " ")) }
                        span.muted { " · " (actor(&e.actor)) }
                    }
                }
            }
        },
    )
}

fn actor(a: &lineout_domain::case::Actor) -> String {
    use lineout_domain::case::Actor;
    match a {
        Actor::Customer => "customer".into(),
        Actor::Staff(id) => format!("staff {id}"),
        Actor::Client(id) => format!("client {id}"),
        Actor::System => "lineout".into(),
    }
}

/// A line found at intake: only what verification needs (CPNI).
pub struct FoundLine {
    pub line_id: String,
    pub masked: String,
    pub holder: String,
}

pub fn intake(ctx: &Ctx, staff: &Staff, found: Option<&FoundLine>, error: Option<(&str, String)>) -> Markup {
    let l = ctx.lang;
    layout(
        ctx,
        t(l, "intake"),
        Some(staff),
        html! {
            (error_box(error, ctx))
            h2 { (t(l, "find_line")) }
            form.stack method="get" action="/console/intake" {
                label for="msisdn" { (t(l, "phone_number")) }
                input #msisdn name="msisdn" type="tel" autocomplete="off" required maxlength="32";
                p { button #find type="submit" { (t(l, "find")) } }
            }
            @if let Some(f) = found {
                p.muted { (t(l, "line_masked")) }
                dl.cards {
                    div.card { dt { (t(l, "number")) } dd #masked { (f.masked) } }
                    div.card { dt { (t(l, "holder")) } dd #holder { (f.holder) } }
                }
                h2 { (t(l, "verify_and_open")) }
                form.stack method="post" action="/console/intake" {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    input type="hidden" name="line_id" value=(f.line_id);
                    label for="id_type" { (t(l, "photo_id_type")) }
                    select #id_type name="id_type" required {
                        @for (k, en, zh) in ID_TYPES { option value=(k) { (pick(l, en, zh)) } }
                    }
                    label for="id_last4" { (t(l, "photo_id_last4")) }
                    input #id_last4 name="id_last4" required minlength="4" maxlength="4" autocomplete="off";
                    label for="id_expiry" { (t(l, "photo_id_expiry")) }
                    input #id_expiry name="id_expiry" type="date" required;
                    label for="timing" { (t(l, "timing")) }
                    select #timing name="timing" {
                        option value="immediate" { (t(l, "timing_asap")) }
                        option value="end_of_cycle" { (t(l, "timing_end_of_cycle")) }
                    }
                    label { input #attest type="checkbox" name="attest" value="yes" required; " " (t(l, "attest")) }
                    p { button #open-case type="submit" { (t(l, "verify_and_open")) } }
                }
                h2 { (t(l, "or_code")) }
                form.stack method="post" action="/console/intake/code" {
                    input type="hidden" name="csrf" value=(staff.csrf);
                    input type="hidden" name="line_id" value=(f.line_id);
                    label for="code-timing" { (t(l, "timing")) }
                    select #code-timing name="timing" {
                        option value="immediate" { (t(l, "timing_asap")) }
                        option value="end_of_cycle" { (t(l, "timing_end_of_cycle")) }
                    }
                    p { button.secondary #open-with-code type="submit" { (t(l, "send_code_to_line")) } }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::i18n::has;

    #[test]
    fn every_key_the_pages_use_is_translated() {
        let source = include_str!("pages.rs");
        let mut checked = 0;
        for piece in source.split("t(l, \"").skip(1) {
            let key = piece.split('"').next().unwrap_or("");
            assert!(has(key), "missing translation for {key}");
            checked += 1;
        }
        assert!(checked > 30);
    }
}
