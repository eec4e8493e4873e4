//! The statement as an HTML5 page: one self-contained document (inline style, no
//! script, no external resource) with the page's language, the details as a
//! description list, the lines as a table with a caption and scoped headers, and
//! every piece of text from the statement escaped.

use std::fmt::Write as _;

use super::{Statement, format_money, format_signed, totals};

/// The style: readable on a phone and on paper, amounts aligned on the right.
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Noto Sans\",\"Noto Sans CJK SC\",\"WenQuanYi Micro Hei\",sans-serif;\
line-height:1.5;color:#111;background:#fff;margin:0}\
main,body>footer{max-width:48rem;margin:0 auto;padding:1rem 1.5rem}\
.operator{font-weight:600;margin:0}\
h1{font-size:1.6rem;margin:.2rem 0 1rem}\
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}\
dl{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1.5rem}dt{font-weight:600}dd{margin:0}\
table{border-collapse:collapse;width:100%;margin-top:1.5rem}\
caption{text-align:left;font-weight:600;font-size:1.1rem;padding-bottom:.5rem}\
th,td{padding:.35rem .5rem;border-bottom:1px solid #bbb;text-align:left;vertical-align:top}\
thead th{border-bottom:2px solid #111}tbody th{font-weight:normal}\
tfoot th,tfoot td{font-weight:700;border-top:2px solid #111;border-bottom:none}\
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
.closing{font-size:1.25rem;font-weight:700}\
@media print{main,body>footer{max-width:none;padding:0}}";

/// The statement as a complete HTML5 document, in its language (`lang="en"` or
/// `lang="zh-Hans"`), UTF-8.
pub fn statement_html(statement: &Statement) -> String {
    let language = statement.language;
    let t = language.texts();
    let currency = statement.currency.as_str();
    let totals = totals(statement);
    let closing = totals.last().copied().unwrap_or(statement.opening_balance_cents);
    let e = escape;

    let mut out = String::with_capacity(4096 + 256 * statement.lines.len());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        language.tag(),
        e(&language.document_title(&statement.operator_name, &statement.case_id)),
    );
    let _ = write!(
        out,
        "<header>\n<p class=\"operator\">{}</p>\n<h1>{}</h1>\n</header>\n",
        e(&statement.operator_name),
        e(t.title)
    );

    let closed = statement.closed_on.as_deref().unwrap_or(t.not_closed);
    let _ = write!(out, "<section aria-labelledby=\"details\">\n<h2 id=\"details\">{}</h2>\n<dl>\n", e(t.details));
    for (label, value) in [
        (t.case, statement.case_id.as_str()),
        (t.customer, &statement.customer_name),
        (t.account, &statement.account_id),
        (t.line, &language.line_ending(&statement.msisdn_last4)),
        (t.opened, &statement.opened_on),
        (t.closed, closed),
    ] {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", e(label), e(value));
    }
    out.push_str("</dl>\n</section>\n");

    let _ = write!(
        out,
        "<table>\n<caption>{}</caption>\n<thead>\n<tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\" class=\"num\">{}</th><th scope=\"col\" class=\"num\">{}</th></tr>\n\
         </thead>\n<tbody>\n",
        e(&language.caption(currency)),
        e(t.date),
        e(t.kind),
        e(t.description),
        e(t.amount),
        e(t.balance),
    );
    let row = |out: &mut String, date: &str, kind: &str, description: &str, amount: &str, balance: &str| {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            e(date),
            e(kind),
            e(description),
            e(amount),
            e(balance)
        );
    };
    row(
        &mut out,
        &statement.opened_on,
        "",
        t.opening_balance,
        "",
        &format_money(statement.opening_balance_cents, currency),
    );
    for (line, balance) in statement.lines.iter().zip(totals.iter().skip(1)) {
        row(
            &mut out,
            &line.date,
            language.kind(line.kind),
            &line.description,
            &format_signed(line.kind.sign().saturating_mul(line.amount_cents), currency),
            &format_money(*balance, currency),
        );
    }
    out.push_str("</tbody>\n<tfoot>\n");
    row(
        &mut out,
        statement.closed_on.as_deref().unwrap_or(""),
        "",
        t.closing_balance,
        "",
        &format_money(closing, currency),
    );
    out.push_str("</tfoot>\n</table>\n");

    let _ = writeln!(out, "<p>{}</p>", e(t.negative_note));
    let _ = writeln!(out, "<p class=\"closing\">{}</p>", e(&language.closing(closing, currency)));
    if let Some(method) = &statement.refund_method {
        let _ = writeln!(out, "<p>{}</p>", e(&language.labelled(t.refund_method, method)));
    }
    out.push_str("</main>\n<footer>\n");
    if let Some(code) = &statement.auth_code {
        let _ = writeln!(out, "<p>{}</p>", e(&language.auth(code)));
    }
    let _ = writeln!(out, "<p><strong>{}</strong></p>", e(t.scam));
    out.push_str("</footer>\n</body>\n</html>\n");
    out
}

/// `text` safe anywhere in HTML text or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::tests::sample;
    use crate::statement::{Lang, LineKind, StatementLine};

    /// The elements HTML5 writes without an end tag.
    const VOID: [&str; 4] = ["meta", "br", "link", "hr"];

    /// Checks that every element is closed in order and returns the text outside
    /// tags, so tests can look for what a reader sees.
    fn check_well_formed(html: &str) -> String {
        let mut open: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut rest = html.strip_prefix("<!DOCTYPE html>\n").expect("doctype");
        while let Some(at) = rest.find('<') {
            text.push_str(&rest[..at]);
            let end = rest[at..].find('>').expect("unclosed tag") + at;
            let tag = &rest[at + 1..end];
            let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            assert!(!name.is_empty(), "bad tag <{tag}>");
            if tag.starts_with('/') {
                assert_eq!(open.pop().as_deref(), Some(name.as_str()), "</{name}> closes the wrong element");
            } else if !VOID.contains(&name.as_str()) {
                if name == "style" {
                    let close = rest[end..].find("</style>").expect("style closed") + end;
                    rest = &rest[close + "</style>".len()..];
                    continue;
                }
                open.push(name);
            }
            rest = &rest[end + 1..];
        }
        text.push_str(rest);
        assert!(open.is_empty(), "unclosed: {open:?}");
        text
    }

    #[test]
    fn an_english_statement() {
        let html = statement_html(&sample(Lang::En));
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"));
        let text = check_well_formed(&html);
        assert!(html.contains("<title>Lineout Mobile: final statement, case C01JD3K5M2X7Q4T9A</title>"));
        assert!(html.contains("<h1>Final statement</h1>"));
        assert!(html.contains("<caption>Account activity, in USD</caption>"));
        assert!(html.contains("<th scope=\"col\">Date</th>"));
        // Each line with its sign and the running balance after it.
        assert!(html.contains(
            "<tr><td>2026-11-02</td><td></td><th scope=\"row\">Opening balance</th><td class=\"num\"></td><td class=\"num\">-18.50 USD</td></tr>"
        ));
        assert!(html.contains(
            "<tr><td>2026-11-03</td><td>Fee</td><th scope=\"row\">Refund processing fee</th><td class=\"num\">+3.00 USD</td><td class=\"num\">-15.50 USD</td></tr>"
        ));
        assert!(html.contains("<td class=\"num\">+15.50 USD</td><td class=\"num\">0.00 USD</td>"));
        assert!(html.contains("<tfoot>\n<tr><td>2026-11-30</td><td></td><th scope=\"row\">Closing balance</th>"));
        for expected in [
            "Nothing is owed.",
            "Refund method: card ending in 4242",
            "Authenticity code: K7Q2M9XP.",
            "We never ask for payments, gift cards or codes by chat, social media or unsolicited calls.",
            "ending in 4821",
            "Dana Whitfield",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
        assert!(!html.contains("<script"));
    }

    #[test]
    fn a_chinese_statement() {
        let statement = Statement { customer_name: "张伟".to_owned(), ..sample(Lang::ZhHans) };
        let html = statement_html(&statement);
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"zh-Hans\">\n<head>\n<meta charset=\"utf-8\">"));
        let text = check_well_formed(&html);
        assert!(html.contains("<h1>最终账单</h1>"));
        assert!(html.contains("<caption>账户明细（币种：USD）</caption>"));
        assert!(html.contains("<th scope=\"col\" class=\"num\">余额</th>"));
        for expected in [
            "无任何欠款。",
            "期初余额",
            "期末余额",
            "手续费",
            "退款方式：card ending in 4242",
            "真实性验证码：K7Q2M9XP。",
            "我们绝不会通过聊天、社交媒体或陌生来电索要付款、礼品卡或验证码。",
            "张伟",
            "尾号 4821",
            "-18.50 USD",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
    }

    #[test]
    fn what_is_owed_either_way() {
        let owes = Statement { opening_balance_cents: 4200, lines: vec![], ..sample(Lang::En) };
        assert!(statement_html(&owes).contains("<p class=\"closing\">You owe 42.00 USD.</p>"));
        let owed = Statement { opening_balance_cents: -4200, lines: vec![], closed_on: None, ..sample(Lang::En) };
        let html = statement_html(&owed);
        assert!(html.contains("<p class=\"closing\">We owe you 42.00 USD.</p>"));
        assert!(html.contains("<dt>Closed</dt><dd>not yet closed</dd>\n"));
        let zh = Statement { opening_balance_cents: 4200, lines: vec![], ..sample(Lang::ZhHans) };
        assert!(statement_html(&zh).contains("您尚需支付 42.00 USD。"));
    }

    #[test]
    fn text_from_the_statement_is_escaped() {
        let statement = Statement {
            operator_name: "A&B <Mobile>".to_owned(),
            customer_name: "\"Robert'); DROP TABLE--".to_owned(),
            lines: vec![StatementLine {
                date: "2026-11-03".to_owned(),
                kind: LineKind::Charge,
                description: "<script>alert(1)</script>".to_owned(),
                amount_cents: 100,
            }],
            refund_method: Some("<b>card</b>".to_owned()),
            auth_code: Some("<img src=x onerror=alert(1)>".to_owned()),
            ..sample(Lang::En)
        };
        let html = statement_html(&statement);
        check_well_formed(&html);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img") && !html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<title>A&amp;B &lt;Mobile&gt;: final statement"));
        assert!(html.contains("&quot;Robert&#39;); DROP TABLE--"));
    }

    #[test]
    fn the_same_statement_gives_the_same_page() {
        assert_eq!(statement_html(&sample(Lang::En)), statement_html(&sample(Lang::En)));
    }
}
