//! The data export file: a zip holding, for each table, `<name>.json` (the rows as a
//! JSON array) and `<name>.csv` (one column per top-level field; nested values as JSON
//! text), plus a README. Pure: bytes in memory, no I/O.

use serde_json::Value;
use std::io::Write;

/// One table of the export.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: &'static str,
    pub rows: Vec<Value>,
}

/// Why an export file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("export file: {0}")]
pub struct Error(String);

fn err(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// The CSV text of rows: the header is the union of the rows' top-level keys, in order
/// of first appearance.
pub fn csv_of(rows: &[Value]) -> Result<String, Error> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(m) = row {
            for k in m.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&columns).map_err(err)?;
    for row in rows {
        let cells = columns.iter().map(|c| match row.get(c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        });
        w.write_record(cells).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(err)?;
    String::from_utf8(bytes).map_err(err)
}

/// The zip bytes of an export.
pub fn write(readme: &str, tables: &[Table]) -> Result<Vec<u8>, Error> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("README.txt", options).map_err(err)?;
    zip.write_all(readme.as_bytes()).map_err(err)?;
    for t in tables {
        zip.start_file(format!("{}.json", t.name), options).map_err(err)?;
        let json = serde_json::to_vec_pretty(&t.rows).map_err(err)?;
        zip.write_all(&json).map_err(err)?;
        zip.start_file(format!("{}.csv", t.name), options).map_err(err)?;
        zip.write_all(csv_of(&t.rows)?.as_bytes()).map_err(err)?;
    }
    Ok(zip.finish().map_err(err)?.into_inner())
}

/// The files of a zip as (name, text), for tests and tools.
pub fn read(bytes: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(err)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(err)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).map_err(err)?;
        out.push((f.name().to_owned(), text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_zip_round_trips_with_json_and_csv() {
        let rows = vec![json!({"id": "A", "n": 1, "tags": ["x"]}), json!({"id": "B, \"quoted\"", "extra": null})];
        let bytes = write("hello", &[Table { name: "things", rows: rows.clone() }]).unwrap();
        let files = read(&bytes).unwrap();
        let names: Vec<_> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["README.txt", "things.json", "things.csv"]);
        assert_eq!(serde_json::from_str::<Vec<Value>>(&files[1].1).unwrap(), rows);
        assert_eq!(files[2].1, "id,n,tags,extra\nA,1,\"[\"\"x\"\"]\",\n\"B, \"\"quoted\"\"\",,,\n");
    }
}
