//! SVG drawn on the server: the evidence chain as a layered graph, and bar charts for the
//! delivery report. Text is escaped by maud; every drawing has a title and description for
//! screen readers, and the pages show the same data as tables.

use maud::{Markup, html};

const COL_W: i64 = 184;
const NODE_W: i64 = 164;
const NODE_H: i64 = 56;
const ROW_GAP: i64 = 16;
const TOP: i64 = 34;
const LEFT: i64 = 8;
/// Characters of a line that fit in a node.
const LINE_CHARS: usize = 20;
/// The first line is bold: fewer characters fit the box.
const LABEL_CHARS: usize = 18;

/// One box of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub column: usize,
    /// `source`, `job`, `builder`, `artifact`, `signature`, `attestation`, `sbom`,
    /// `promotion`: the CSS class and the `data-node` attribute.
    pub kind: &'static str,
    /// First line, bold.
    pub label: String,
    /// Second line.
    pub detail: String,
    /// Everything, for the tooltip and screen readers.
    pub full: String,
    pub href: Option<String>,
    /// `ok`, `bad`, `wait` or `none`: the box's outline.
    pub status: &'static str,
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// A layered graph: nodes in columns (headed by `columns`), edges between node ids.
pub fn layered(
    id: &str,
    title: &str,
    desc: &str,
    columns: &[&str],
    nodes: &[Node],
    edges: &[(String, String)],
) -> Markup {
    let rows_in = |c: usize| nodes.iter().filter(|n| n.column == c).count() as i64;
    let max_rows = (0..columns.len()).map(rows_in).max().unwrap_or(1).max(1);
    let height = TOP + max_rows * (NODE_H + ROW_GAP) + 8;
    let width = LEFT * 2 + columns.len() as i64 * COL_W - (COL_W - NODE_W);
    // Each node's top-left corner: columns centred vertically.
    let mut pos = std::collections::HashMap::new();
    for c in 0..columns.len() {
        let n = rows_in(c);
        let offset = (max_rows - n) * (NODE_H + ROW_GAP) / 2;
        for (row, node) in nodes.iter().filter(|x| x.column == c).enumerate() {
            pos.insert(
                node.id.clone(),
                (
                    LEFT + c as i64 * COL_W,
                    TOP + offset + row as i64 * (NODE_H + ROW_GAP),
                ),
            );
        }
    }
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        svg id=(id) class="graph" xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={"0 0 " (width) " " (height)} width=(width) height=(height)
            aria-labelledby={(title_id) " " (desc_id)} {
            title id=(title_id) { (title) }
            desc id=(desc_id) { (desc) }
            defs {
                marker id={(id) "-arrow"} viewBox="0 0 10 10" refX="10" refY="5"
                    markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" {}
                }
            }
            @for (c, label) in columns.iter().enumerate() {
                text.colhead x=(LEFT + c as i64 * COL_W + NODE_W / 2) y="18" text-anchor="middle" { (label) }
            }
            g.edges {
                @for (from, to) in edges {
                    @if let (Some((x1, y1)), Some((x2, y2))) = (pos.get(from), pos.get(to)) {
                        @let (sx, sy, ex, ey) = (x1 + NODE_W, y1 + NODE_H / 2, *x2, y2 + NODE_H / 2);
                        @let mx = (sx + ex) / 2;
                        path.edge data-from=(from) data-to=(to)
                            d={"M " (sx) " " (sy) " C " (mx) " " (sy) ", " (mx) " " (ey) ", " (ex - 1) " " (ey)}
                            marker-end={"url(#" (id) "-arrow)"} {}
                    }
                }
            }
            @for n in nodes {
                @if let Some((x, y)) = pos.get(&n.id) {
                    @if let Some(href) = &n.href {
                        a href=(href) { (node_box(n, *x, *y)) }
                    } @else {
                        (node_box(n, *x, *y))
                    }
                }
            }
        }
    }
}

fn node_box(n: &Node, x: i64, y: i64) -> Markup {
    html! {
        g class={"node " (n.kind) " " (n.status)} data-node=(n.kind) data-id=(n.id) {
            title { (n.full) }
            rect x=(x) y=(y) width=(NODE_W) height=(NODE_H) rx="6" {}
            text x=(x + 10) y=(y + 22) class="label" { (clip(&n.label, LABEL_CHARS)) }
            text x=(x + 10) y=(y + 42) class="detail" { (clip(&n.detail, LINE_CHARS)) }
        }
    }
}

/// A bar chart of one value per period; `None` is a gap (nothing to measure), drawn as a
/// dash at the axis.
pub fn bars(id: &str, title: &str, unit: &str, points: &[(String, Option<f64>)]) -> Markup {
    const W: i64 = 480;
    const H: i64 = 220;
    const PAD_L: i64 = 48;
    const PAD_B: i64 = 34;
    const PAD_T: i64 = 24;
    let max = points
        .iter()
        .filter_map(|(_, v)| *v)
        .fold(0.0_f64, f64::max);
    let top = nice_ceiling(max);
    let n = points.len().max(1) as i64;
    let slot = (W - PAD_L - 8) / n;
    let bar_w = (slot * 7 / 10).max(2);
    let plot_h = (H - PAD_T - PAD_B) as f64;
    let y_of = |v: f64| PAD_T as f64 + plot_h - (v / top) * plot_h;
    let summary: Vec<String> = points
        .iter()
        .map(|(l, v)| match v {
            Some(v) => format!("{l}: {} {unit}", fmt_num(*v)),
            None => format!("{l}: none"),
        })
        .collect();
    // At most about eight period labels fit under the axis.
    let label_every = points.len().div_ceil(8).max(1);
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    html! {
        svg id=(id) class="chart" xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={"0 0 " (W) " " (H)} aria-labelledby={(title_id) " " (desc_id)} {
            title id=(title_id) { (title) }
            desc id=(desc_id) { (summary.join("; ")) }
            @for i in 0..=4 {
                @let v = top * f64::from(i) / 4.0;
                @let y = y_of(v);
                line.grid x1=(PAD_L) x2=(W - 4) y1=(fmt_px(y)) y2=(fmt_px(y)) {}
                text.tick x=(PAD_L - 6) y=(fmt_px(y + 4.0)) text-anchor="end" { (fmt_num(v)) }
            }
            @for (i, (label, v)) in points.iter().enumerate() {
                @let x = PAD_L + i as i64 * slot + (slot - bar_w) / 2;
                @match v {
                    Some(v) => {
                        @let y = y_of(*v);
                        rect.bar x=(x) y=(fmt_px(y)) width=(bar_w) height=(fmt_px((PAD_T as f64 + plot_h - y).max(0.0))) {
                            title { (label) ": " (fmt_num(*v)) " " (unit) }
                        }
                    }
                    None => {
                        line.gap x1=(x) x2=(x + bar_w) y1=(fmt_px(PAD_T as f64 + plot_h)) y2=(fmt_px(PAD_T as f64 + plot_h)) {}
                    }
                }
                @if i % label_every == 0 {
                    text.tick x=(x + bar_w / 2) y=(H - PAD_B + 16) text-anchor="middle" { (label) }
                }
            }
            text.unit x="4" y="12" { (unit) }
        }
    }
}

/// 1, 2, 5 × 10ⁿ at or above `v` (at least 1), for a readable axis.
pub fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v - 1e-9 {
            return m * mag;
        }
    }
    10.0 * mag
}

pub fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_px(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, column: usize, kind: &'static str, label: &str) -> Node {
        Node {
            id: id.into(),
            column,
            kind,
            label: label.into(),
            detail: String::new(),
            full: label.into(),
            href: None,
            status: "none",
        }
    }

    #[test]
    fn axis_ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(20.0), 20.0);
        assert_eq!(nice_ceiling(0.21), 0.25);
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(12.34), "12.3");
    }

    #[test]
    fn graph_draws_every_node_and_edge_and_escapes_text() {
        let nodes = vec![
            node("a", 0, "source", "<script>x</script>"),
            node("b", 1, "artifact", "sha256:abc"),
            node("c", 2, "promotion", "prod"),
            node("d", 2, "promotion", "staging"),
        ];
        let edges = vec![
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "c".to_string()),
            ("b".to_string(), "d".to_string()),
            ("b".to_string(), "missing".to_string()),
        ];
        let svg = layered("g", "T", "D", &["S", "A", "P"], &nodes, &edges).into_string();
        assert_eq!(svg.matches("data-node=").count(), 4);
        assert_eq!(svg.matches("class=\"edge\"").count(), 3, "{svg}");
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("role=\"img\""));
        assert_eq!(svg.matches("<path").count(), svg.matches("</path>").count());
        assert_eq!(svg.matches("<rect").count(), svg.matches("</rect>").count());
    }

    #[test]
    fn long_labels_are_clipped_with_the_full_text_in_the_title() {
        let long = "x".repeat(80);
        let svg =
            layered("g", "T", "D", &["S"], &[node("a", 0, "source", &long)], &[]).into_string();
        assert!(svg.contains(&format!("<title>{long}</title>")));
        assert!(svg.contains(&format!("{}…", "x".repeat(LABEL_CHARS - 1))));
    }

    #[test]
    fn bars_scale_to_the_largest_value_and_mark_gaps() {
        let pts = vec![
            ("w1".to_string(), Some(5.0)),
            ("w2".to_string(), None),
            ("w3".to_string(), Some(2.0)),
        ];
        let svg = bars("c", "Deploys", "per week", &pts).into_string();
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert_eq!(svg.matches("class=\"gap\"").count(), 1);
        assert!(svg.contains("w2: none"));
        // SVG elements are closed (inline SVG has no void elements).
        assert!(
            !svg.contains("<line")
                || svg.matches("</line>").count() == svg.matches("<line").count()
        );
        assert_eq!(svg.matches("<rect").count(), svg.matches("</rect>").count());
        // The tallest bar reaches the top of the plot (5 is the axis maximum).
        assert!(svg.contains("y=\"24.0\""), "{svg}");
    }
}
