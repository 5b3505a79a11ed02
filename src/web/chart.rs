//! Bar charts drawn as SVG by the server: readable without JavaScript, with a title and a
//! description for screen readers; the same numbers are always also in a table.

use std::fmt::Write;

/// A horizontal bar chart of labelled values.
pub fn bar_chart(title: &str, rows: &[(String, i64)]) -> String {
    let label_width = 190.0;
    let bar_room = 420.0;
    let row_height = 20.0;
    let height = row_height * rows.len().max(1) as f64 + 10.0;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" role=\"img\" aria-label=\"{title}\" viewBox=\"0 0 680 {height}\" \
         width=\"680\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{title}</title>",
        title = escape(title),
    );
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * row_height;
        let width = (*value as f64 / max * bar_room).max(if *value > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            svg,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect class=\"bar\" x=\"{bx}\" y=\"{y}\" width=\"{width:.1}\" height=\"{h}\"></rect>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{value}</text>",
            lx = label_width - 6.0,
            ty = y + 13.0,
            label = escape(&shorten(label, 28)),
            bx = label_width,
            h = row_height - 6.0,
            vx = label_width + width + 4.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn escape(s: &str) -> String {
    super::escape(s)
}

#[cfg(test)]
mod tests {
    use super::bar_chart;

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let svg = bar_chart(
            "Ärenden <per> dag",
            &[
                ("bygg-miljo".into(), 10),
                ("<script>".into(), 5),
                ("tom".into(), 0),
            ],
        );
        assert!(svg.starts_with("<svg class=\"chart\" role=\"img\""));
        assert!(svg.contains("<title>Ärenden &lt;per&gt; dag</title>"));
        assert!(svg.contains("width=\"420.0\""), "{svg}");
        assert!(svg.contains("width=\"210.0\""));
        assert!(svg.contains("width=\"0.0\""));
        assert!(!svg.contains("<script>"));
    }
}
