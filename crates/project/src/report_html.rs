//! The QA report as one self-contained HTML page: inline CSS, plots as inline SVG drawn with
//! `plotters`, thumbnails as inline PNG — no network, no JavaScript.

use super::report::{shell_quote, Report};
use plotters::prelude::*;
use std::fmt::Write as _;
use voxmark_volume::error::{Error, Result};

const STATUS_COLORS: [(&str, RGBColor); 4] = [
    ("draft", RGBColor(150, 150, 150)),
    ("submitted", RGBColor(31, 119, 180)),
    ("changes_requested", RGBColor(214, 39, 40)),
    ("approved", RGBColor(44, 160, 44)),
];

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("report plot: {e}"))
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

/// A chart with the report's caption style and label areas.
fn builder<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48);
    b
}

/// The name under segment `x` of a per-item axis.
fn name_at(names: &[String], x: &SegmentValue<u32>) -> String {
    match x {
        SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Annotations per status over time (one line per status).
fn timeline_svg(r: &Report) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let n = r.timeline.len().max(1);
        let max = r
            .timeline
            .iter()
            .flat_map(|p| p.by_status.values().copied())
            .max()
            .unwrap_or(1)
            .max(1);
        let mut chart = builder(&root, "Annotations per status over time")
            .build_cartesian_2d(0usize..n.saturating_sub(1).max(1), 0i64..max + max / 10 + 1)
            .map_err(plot_err)?;
        let dates: Vec<String> = r.timeline.iter().map(|p| p.date.clone()).collect();
        chart
            .configure_mesh()
            .x_labels(8.min(n))
            .x_label_formatter(&|x| dates.get(*x).cloned().unwrap_or_default())
            .y_desc("annotations")
            .draw()
            .map_err(plot_err)?;
        for (status, color) in STATUS_COLORS {
            let pts: Vec<(usize, i64)> = r
                .timeline
                .iter()
                .enumerate()
                .map(|(i, p)| (i, p.by_status.get(status).copied().unwrap_or(0)))
                .collect();
            chart
                .draw_series(PointSeries::of_element(
                    pts.clone(),
                    3,
                    color.filled(),
                    &|c, s, st| EmptyElement::at(c) + Circle::new((0, 0), s, st),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(plot_err)?
                .label(status)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        let later: Vec<(usize, i64)> = r
            .timeline
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.later_rounds))
            .collect();
        let purple = RGBColor(148, 103, 189);
        chart
            .draw_series(LineSeries::new(later, purple.stroke_width(1)))
            .map_err(plot_err)?
            .label("in round ≥ 2")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], purple));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Box plot of inter-annotator Dice per label.
fn label_box_svg(r: &Report) -> Result<String> {
    let labels: Vec<&super::report::LabelStats> =
        r.labels.iter().filter(|l| !l.dice.is_empty()).collect();
    let mut svg = String::new();
    {
        let width = (160 + 90 * labels.len()).clamp(480, 1200) as u32;
        let root = SVGBackend::with_string(&mut svg, (width, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let n = labels.len().max(1) as u32;
        let mut chart = builder(&root, "Inter-annotator Dice per label")
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0f32..1.05f32)
            .map_err(plot_err)?;
        let names: Vec<String> = labels.iter().map(|l| l.name.clone()).collect();
        chart
            .configure_mesh()
            .x_label_formatter(&|x| name_at(&names, x))
            .y_desc("Dice")
            .draw()
            .map_err(plot_err)?;
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(labels.iter().enumerate().map(|(i, l)| {
                let q = Quartiles::new(&l.dice);
                Boxplot::new_vertical(SegmentValue::CenterOf(i as u32), &q)
                    .width(28)
                    .whisker_width(0.5)
                    .style(blue)
            }))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Histogram of all inter-annotator Dice values (20 bins over [0, 1]).
fn dice_hist_svg(r: &Report) -> Result<String> {
    let mut bins = [0u32; 20];
    for l in &r.labels {
        for &d in &l.dice {
            bins[((d * 20.0).floor() as usize).min(19)] += 1;
        }
    }
    let max = bins.iter().copied().max().unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = builder(&root, "Distribution of Dice (all labels, all pairs)")
            .build_cartesian_2d((0u32..19u32).into_segmented(), 0u32..max + max / 10 + 1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| match x {
                // Every other bin, as its range.
                SegmentValue::CenterOf(i) if i % 2 == 0 => {
                    format!("{:.2}–{:.2}", *i as f64 / 20.0, (*i + 1) as f64 / 20.0)
                }
                _ => String::new(),
            })
            .x_desc("Dice")
            .y_desc("pairs × labels")
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(31, 119, 180).filled())
                    .margin(1)
                    .data(bins.iter().enumerate().map(|(i, &c)| (i as u32, c))),
            )
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Mean Dice against the other annotators, one bar per annotator.
fn annotator_svg(r: &Report) -> Result<String> {
    let rows: Vec<(&str, f64)> = r
        .annotators
        .iter()
        .filter_map(|a| a.dice_vs_others.map(|d| (a.name.as_str(), d)))
        .collect();
    let mut svg = String::new();
    {
        let width = (160 + 70 * rows.len()).clamp(420, 1200) as u32;
        let root = SVGBackend::with_string(&mut svg, (width, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let n = rows.len().max(1) as u32;
        let mut chart = builder(&root, "Mean Dice against the other annotators")
            .build_cartesian_2d((0u32..n - 1).into_segmented(), 0f64..1.05f64)
            .map_err(plot_err)?;
        let names: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
        chart
            .configure_mesh()
            .x_label_formatter(&|x| name_at(&names, x))
            .y_desc("Dice")
            .draw()
            .map_err(plot_err)?;
        let green = RGBColor(44, 160, 44);
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(green.filled())
                    .margin(14)
                    .data(rows.iter().enumerate().map(|(i, (_, d))| (i as u32, *d))),
            )
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}code{background:#f4f4f4;padding:1px 4px}
.figs{display:flex;flex-wrap:wrap;gap:12px}.plot{border:1px solid #ddd}
.thumbs{display:flex;flex-wrap:wrap;gap:16px}.thumb{width:300px;font-size:12px}
.thumb img{width:300px;image-rendering:pixelated;border:1px solid #999}
.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}
.note{color:#8a5300}";

/// The report as one HTML page.
pub fn render_html(r: &Report) -> Result<String> {
    let mut h = String::new();
    let w = |h: &mut String, s: &str| h.push_str(s);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>QA report: {}</title><style>{STYLE}</style></head><body>\n",
        esc(&r.project)
    );
    let _ = write!(
        h,
        "<h1>QA report: {}</h1><p>Generated {} by voxmark {}. {} cases, {} done (every annotator approved); {} slots unclaimed.</p>",
        esc(&r.project),
        esc(&r.generated_at),
        env!("CARGO_PKG_VERSION"),
        r.status.cases,
        r.status.cases_done,
        r.status.unclaimed_slots
    );

    w(
        &mut h,
        "<h2 id=\"progress\">Progress</h2>\n<div class=\"figs\">",
    );
    let _ = write!(
        h,
        "<div class=\"plot\" id=\"timeline\">{}</div>",
        timeline_svg(r)?
    );
    w(&mut h, "</div>\n<table><tr><th class=\"l\">round</th>");
    for (s, _) in STATUS_COLORS {
        let _ = write!(h, "<th>{}</th>", esc(s));
    }
    w(&mut h, "</tr>");
    for (round, counts) in &r.by_round {
        let _ = write!(h, "<tr><td class=\"l\">{round}</td>");
        for (s, _) in STATUS_COLORS {
            let _ = write!(h, "<td>{}</td>", counts.get(s).copied().unwrap_or(0));
        }
        w(&mut h, "</tr>");
    }
    w(&mut h, "</table>\n");

    w(&mut h, "<h2 id=\"annotators\">Annotators</h2>\n<table><tr><th class=\"l\">annotator</th><th>annotations</th><th>submitted</th><th>approved</th><th>changes requested</th><th>markups</th><th>median active min / case</th><th>Dice vs others</th><th>HD95 vs others (mm)</th><th>Dice first vs approved</th><th>HD95 first vs approved (mm)</th></tr>");
    for a in &r.annotators {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.name),
            a.annotations,
            a.submitted,
            a.approved,
            a.changes_requested,
            a.markups,
            fmt_opt(a.median_active_minutes, 1),
            fmt_opt(a.dice_vs_others, 3),
            fmt_opt(a.hd95_vs_others_mm, 2),
            fmt_opt(a.dice_first_vs_approved, 3),
            fmt_opt(a.hd95_first_vs_approved_mm, 2)
        );
    }
    w(&mut h, "</table>\n<p>Active time is estimated from when versions were saved and statuses changed (gaps over 30 minutes count as breaks). “First vs approved” compares the version submitted in round 1 with the version the reviewer approved.</p>\n");
    // Per annotator and label: mean Dice / HD95 against the others.
    let labels_seen: Vec<&super::schema::SchemaLabel> = r
        .schema_labels
        .iter()
        .filter(|l| {
            r.annotators
                .iter()
                .any(|a| a.vs_others_by_label.contains_key(&l.value))
        })
        .collect();
    if !labels_seen.is_empty() {
        w(
            &mut h,
            "<table id=\"annotator-labels\"><tr><th class=\"l\">Dice / HD95 (mm) vs others</th>",
        );
        for l in &labels_seen {
            let _ = write!(h, "<th>{} {}</th>", l.value, esc(&l.name));
        }
        w(&mut h, "</tr>");
        for a in &r.annotators {
            let _ = write!(h, "<tr><td class=\"l\">{}</td>", esc(&a.name));
            for l in &labels_seen {
                let cell = a.vs_others_by_label.get(&l.value).map_or_else(
                    || "–".to_string(),
                    |(d, hd)| format!("{d:.3} / {}", fmt_opt(*hd, 2)),
                );
                let _ = write!(h, "<td>{cell}</td>");
            }
            w(&mut h, "</tr>");
        }
        w(&mut h, "</table>\n");
    }
    let _ = write!(
        h,
        "<div class=\"figs\"><div class=\"plot\" id=\"annotator-dice\">{}</div></div>",
        annotator_svg(r)?
    );

    w(
        &mut h,
        "<h2 id=\"labels\">Labels</h2>\n<div class=\"figs\">",
    );
    let _ = write!(
        h,
        "<div class=\"plot\" id=\"label-box\">{}</div>",
        label_box_svg(r)?
    );
    let _ = write!(
        h,
        "<div class=\"plot\" id=\"dice-hist\">{}</div>",
        dice_hist_svg(r)?
    );
    w(&mut h, "</div>\n<table><tr><th class=\"l\">label</th><th>pairs</th><th>median Dice</th><th>Q1</th><th>Q3</th><th class=\"l\">worst cases (open with)</th></tr>");
    for l in &r.labels {
        let worst: Vec<String> = l
            .worst
            .iter()
            .take(5)
            .map(|(c, a, b, d)| {
                format!(
                    "{:.3} {} ({} / {}) <code>voxmark view --project {} --case {}</code>",
                    d,
                    esc(c),
                    esc(a),
                    esc(b),
                    esc(&shell_quote(&r.project_arg)),
                    esc(&shell_quote(c))
                )
            })
            .collect();
        let _ = write!(
            h,
            "<tr><td class=\"l\">{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            l.value,
            esc(&l.name),
            l.dice.len(),
            fmt_opt(l.median, 3),
            fmt_opt(l.q1, 3),
            fmt_opt(l.q3, 3),
            worst.join("<br>")
        );
    }
    w(&mut h, "</table>\n");

    w(&mut h, "<h2 id=\"gold\">Gold-standard cases</h2>\n");
    let g = &r.gold_settings;
    let _ = write!(
        h,
        "<p>Pass: every label Dice ≥ {}{}. Required before real cases: {}. Unannounced gold: {:.0} % of later cases.</p>",
        g.min_dice,
        g.max_hd95_mm.map(|m| format!(" and HD95 ≤ {m} mm")).unwrap_or_default(),
        g.required,
        100.0 * g.rate
    );
    if r.gold.is_empty() {
        w(&mut h, "<p>No gold case has been submitted yet.</p>\n");
    } else {
        w(&mut h, "<table id=\"gold-annotators\"><tr><th class=\"l\">annotator</th><th>scored</th><th>passed</th><th>mean Dice</th></tr>");
        for a in r.annotators.iter().filter(|a| a.gold_scored > 0) {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.name),
                a.gold_scored,
                a.gold_passed,
                fmt_opt(a.gold_mean_dice, 3)
            );
        }
        w(&mut h, "</table>\n<table id=\"gold-scores\"><tr><th class=\"l\">when</th><th class=\"l\">case</th><th class=\"l\">annotator</th><th>version</th><th>result</th><th class=\"l\">per label</th></tr>");
        for s in &r.gold {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|l| {
                    format!(
                        "{}: Dice {:.3}{}",
                        l.label,
                        l.dice,
                        l.hd95_mm
                            .map(|x| format!(", HD95 {x:.2} mm"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                esc(&s.at),
                esc(&s.case),
                esc(&s.annotator),
                s.version,
                if s.passed { "passed" } else { "<b>failed</b>" },
                esc(&labels.join("; "))
            );
        }
        w(&mut h, "</table>\n");
    }

    w(&mut h, "<h2 id=\"flagged\">Flagged cases</h2>\n");
    if r.flagged.is_empty() {
        w(
            &mut h,
            "<p>No pair of annotators disagrees enough to be flagged.</p>\n",
        );
    } else {
        w(&mut h, "<p class=\"key\">Slice with the most disagreement:<span style=\"background:#0f0\"></span>both<span style=\"background:#f00\"></span>only the first annotator<span style=\"background:#00f\"></span>only the second</p>\n<div class=\"thumbs\">");
        for f in &r.flagged {
            let _ = write!(
                h,
                "<div class=\"thumb\"><img alt=\"{} {} vs {}\" width=\"{}\" height=\"{}\" src=\"data:image/png;base64,{}\"><br><b>{}</b> label {}: Dice {:.3} ({} vs {}), axis {} slice {}, {} voxels differ{}<br><code>{}</code></div>",
                esc(&f.case),
                esc(&f.a),
                esc(&f.b),
                f.width,
                f.height,
                base64_encode(&f.png),
                esc(&f.case),
                f.label,
                f.dice,
                esc(&f.a),
                esc(&f.b),
                f.axis,
                f.slice,
                f.disagreeing_voxels,
                if f.with_image { "" } else { " (image not found: masks only)" },
                esc(&f.view_command)
            );
        }
        w(&mut h, "</div>\n");
    }
    if !r.notes.is_empty() {
        w(&mut h, "<h2>Notes</h2><ul>");
        for n in &r.notes {
            let _ = write!(h, "<li class=\"note\">{}</li>", esc(n));
        }
        w(&mut h, "</ul>\n");
    }
    w(&mut h, "</body></html>\n");
    Ok(h)
}

/// Standard base64 (RFC 4648) with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
