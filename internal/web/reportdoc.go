package web

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/report"
)

// docView is what a report document adds to a page's view: its style
// inline and where its links lead.
type docView struct {
	Style template.CSS
	// Base is AIR's address, so the document's links (/incidents/42)
	// lead there from a mail or a file; empty leaves them relative.
	Base string
	// Run names the kept report, when known.
	Run string
}

// ReportDocuments renders reports as whole HTML documents, the same
// templates as the report pages with the style inline and nothing that
// needs a session (no top bar, no period picker, no script): what AIR
// keeps for a report run, mails, and prints to PDF.
type ReportDocuments struct {
	base  string
	style template.CSS
	tmpl  map[domain.ReportKind]*template.Template
}

// NewReportDocuments parses the report templates. baseURL is AIR's
// address as people reach it (https://air.example); "" leaves links
// relative.
func NewReportDocuments(baseURL string) (*ReportDocuments, error) {
	css, err := staticFS.ReadFile("static/air.css")
	if err != nil {
		return nil, err
	}
	d := &ReportDocuments{base: strings.TrimRight(baseURL, "/") + "/", style: template.CSS(css), tmpl: map[domain.ReportKind]*template.Template{}}
	if baseURL == "" {
		d.base = ""
	}
	p := &pages{Server: &Server{}}
	for _, k := range domain.ReportKinds {
		t, err := template.New(string(k)).Funcs(p.funcs()).ParseFS(templateFS, "templates/reportdoc.html",
			"templates/parts.html", "templates/story.html", "templates/reportparts.html", "templates/report_"+string(k)+".html")
		if err != nil {
			return nil, fmt.Errorf("parse report document %s: %w", k, err)
		}
		d.tmpl[k] = t
	}
	return d, nil
}

// RenderReport renders rep (*report.Daily, *report.Monthly or
// *report.Quarterly) as a document; run names it ("" for none).
func (d *ReportDocuments) RenderReport(rep any, run string) ([]byte, error) {
	var v *reportView
	var kind domain.ReportKind
	var per report.Period
	switch r := rep.(type) {
	case *report.Daily:
		v, kind, per = dailyView(r), domain.ReportDaily, r.Period
	case *report.Monthly:
		v, kind, per = monthlyView(r), domain.ReportMonthly, r.Period
	case *report.Quarterly:
		v, kind, per = quarterlyView(r), domain.ReportQuarterly, r.Period
	default:
		return nil, fmt.Errorf("render report: %T is no report", rep)
	}
	var buf bytes.Buffer
	err := d.tmpl[kind].ExecuteTemplate(&buf, "layout", &view{Title: report.Title(kind, per), Report: v,
		Doc: &docView{Style: d.style, Base: d.base, Run: run}})
	if err != nil {
		return nil, fmt.Errorf("render report %s: %w", kind, err)
	}
	return buf.Bytes(), nil
}
