//! Column-aligned tables like `kubectl get` prints: upper-case headers, columns two spaces apart,
//! the last column unpadded so long messages do not drag trailing blanks.

/// A table being filled row by row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; an empty cell prints as `-` so every column stays readable.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| if c.is_empty() { "-".to_string() } else { c })
                .collect(),
        );
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The lines of the table, without a final newline.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        // Widths in characters, not bytes: cells hold `→` and region names in any script.
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                out.push_str(cell);
                if i + 1 < columns {
                    let pad = widths[i] - cell.chars().count() + 2;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.trim_end().to_string()
        };
        std::iter::once(line(&self.header))
            .chain(self.rows.iter().map(|r| line(r)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Labelled lines (`Phase:  Healthy`) with the values aligned one column after the longest label.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    pairs
        .iter()
        .map(|(label, value)| {
            let pad = width - label.chars().count() + 2;
            let value = if value.is_empty() { "-" } else { value };
            format!("{label}:{}{value}", " ".repeat(pad))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_align_after_the_longest_label() {
        let text = fields(&[
            ("Phase", "Healthy".to_string()),
            ("Worst lag", String::new()),
        ]);
        assert_eq!(text, "Phase:      Healthy\nWorst lag:  -");
    }

    #[test]
    fn columns_align_on_the_widest_cell_and_empty_cells_print_a_dash() {
        let mut t = Table::new(&["NAME", "REGION", "MESSAGE"]);
        t.row(vec!["a".into(), "eu-west-1".into(), String::new()]);
        t.row(vec![
            "bravo".into(),
            "→ü".into(),
            "connection refused".into(),
        ]);
        assert_eq!(
            t.render(),
            "NAME   REGION     MESSAGE\n\
             a      eu-west-1  -\n\
             bravo  →ü         connection refused"
        );
        assert!(!t.is_empty());
        assert_eq!(Table::new(&["A", "B"]).render(), "A  B");
    }
}
