//! Documents lineout hands to customers, built as bytes by pure functions: the
//! return label (a 4x6 in PDF page with the RMA number as text and as a Code 128
//! barcode), the final statement of a cancellation case (HTML and PDF, in English
//! or Simplified Chinese), and the pieces they are made of, a Code 128
//! encoder/decoder and a minimal PDF 1.4 writer that can embed a TrueType font.
//!
//! This crate does no I/O, reads no clock and draws no random numbers: the same
//! input always gives the same bytes, so a document can be regenerated at will and
//! compared byte for byte. It also holds the readers tests use to look inside what
//! was drawn ([`pdf_text`], [`label_barcode_widths`]).

pub mod code128;
pub mod label;
pub mod pdf;
pub mod statement;
mod winansi;

pub use label::{ReturnLabel, label_barcode_widths, return_label_pdf};
pub use pdf::pdf_text;
pub use statement::{Lang, LineKind, Statement, StatementLine, statement_html, statement_pdf, totals};
