package web

import (
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
)

// storyAlerts makes n alerts over a day: tactics in turn (every seventh
// alert a category that is none), each naming one of devices devices and
// one of users users, and every fifth also an IP.
func storyAlerts(n, devices, users int) ([]domain.Alert, []domain.Entity) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	ent := func(kind domain.EntityKind, name string) *domain.Entity {
		return &domain.Entity{Key: domain.EntityKey(string(kind) + ":" + name), Kind: kind, Name: name}
	}
	var alerts []domain.Alert
	seen := map[domain.EntityKey]domain.Entity{}
	for i := range n {
		cat := correlate.Tactics[i%len(correlate.Tactics)]
		if i%7 == 6 {
			cat = "Malware"
		}
		ev := []*domain.Entity{ent(domain.KindDevice, fmt.Sprintf("ws-%03d.corp.example", i%devices)),
			ent(domain.KindUser, fmt.Sprintf("user%d@corp.example", i%users))}
		if i%5 == 0 {
			ev = append(ev, ent(domain.KindIP, "198.51.100.7"))
		}
		a := domain.Alert{ID: fmt.Sprintf("a%d", i), Title: fmt.Sprintf("Alert %d", i%9), Category: cat,
			Severity:        []domain.Severity{domain.SeverityHigh, domain.SeverityMedium, domain.SeverityLow}[i%3],
			CreatedDateTime: t0.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))}
		for _, e := range ev {
			a.Evidence = append(a.Evidence, domain.Evidence{Type: string(e.Kind) + "Evidence", Entity: e})
			seen[e.Key] = *e
		}
		alerts = append(alerts, a)
	}
	var entities []domain.Entity
	for _, e := range seen {
		entities = append(entities, e)
	}
	return alerts, entities
}

func TestBuildStory(t *testing.T) {
	t.Parallel()
	alerts, entities := storyAlerts(600, 40, 3)
	v := buildStory(7, alerts, entities)

	var lanes []string
	for _, l := range v.Lanes {
		lanes = append(lanes, l.Name)
	}
	if want := append(slices.Clone(correlate.Tactics), "Other"); !slices.Equal(lanes, want) {
		t.Errorf("lanes = %v, want the tactics in kill-chain order and Other", lanes)
	}
	if v.Lanes[0].ID != "TA0043" || v.Lanes[0].Label != "Reconnaissance" {
		t.Errorf("first lane = %+v, want Reconnaissance TA0043", v.Lanes[0])
	}
	total := 0
	for _, m := range v.Marks {
		total += m.Count
		if m.X < float64(v.PlotLeft) || m.X > float64(v.PlotRight) || m.R > storyLaneH/2 {
			t.Errorf("mark %+v outside the plot or its lane", m)
		}
		if m.Count > 1 && (m.CountText == "" || !strings.HasPrefix(m.Title, fmt.Sprintf("%d alerts", m.Count))) {
			t.Errorf("bubble %+v: want its count shown and in its title", m)
		}
	}
	if total != 600 {
		t.Errorf("marks hold %d alerts, want 600", total)
	}
	if max := len(v.Lanes) * storyBuckets; len(v.Marks) > max {
		t.Errorf("%d marks, want at most %d (lanes × buckets)", len(v.Marks), max)
	}
	if len(v.Ticks) != 5 || v.Ticks[0].Label != "Mar 1 08:00" {
		t.Errorf("ticks = %+v, want 5 from Mar 1 08:00", v.Ticks)
	}

	// 44 entities: the 30 named by most alerts are drawn (the IP, the
	// three users, then devices), grouped by kind.
	if v.EntityCount != 44 || len(v.Nodes) != storyNodes || v.HiddenEntities != 14 {
		t.Errorf("entities %d, nodes %d, hidden %d; want 44, %d, 14", v.EntityCount, len(v.Nodes), v.HiddenEntities, storyNodes)
	}
	var kinds []domain.EntityKind
	for _, n := range v.Nodes {
		if len(kinds) == 0 || kinds[len(kinds)-1] != n.Kind {
			kinds = append(kinds, n.Kind)
		}
	}
	if want := []domain.EntityKind{domain.KindDevice, domain.KindUser, domain.KindIP}; !slices.Equal(kinds, want) {
		t.Errorf("node kinds in order %v, want %v, each together", kinds, want)
	}
	if len(v.Edges) == 0 {
		t.Fatal("no edges between entities that share alerts")
	}
	for _, e := range v.Edges {
		if e.Shared < 1 || e.Width < 1 || e.Width > 7 {
			t.Errorf("edge %+v", e)
		}
	}

	one := buildStory(1, alerts[:1], nil)
	if len(one.Marks) != 1 || one.Marks[0].R != 5 || one.Marks[0].Link != "/incidents/1?tab=alerts#alert-a0" || len(one.Ticks) != 1 {
		t.Errorf("one alert: marks %+v, ticks %+v", one.Marks, one.Ticks)
	}
	if slices.ContainsFunc(one.Lanes, func(l storyLane) bool { return l.Name == "Other" }) {
		t.Error("an Other lane without alerts of other categories")
	}
	if none := buildStory(1, nil, nil); len(none.Marks) != 0 || len(none.Nodes) != 0 {
		t.Errorf("no alerts: %+v", none)
	}
}

// storyTemplate parses the Story tab's drawings as the pages do.
func storyTemplate(t testing.TB) *template.Template {
	t.Helper()
	funcs := template.FuncMap{"entityURL": entityURL}
	for k, f := range incidentFuncs {
		funcs[k] = f
	}
	for k, f := range storyFuncs {
		funcs[k] = f
	}
	tmpl, err := template.New("story").Funcs(funcs).ParseFS(templateFS, "templates/story.html")
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func renderStory(t testing.TB, tmpl *template.Template, w io.Writer, v *storyView) {
	t.Helper()
	for _, name := range []string{"story-timeline", "story-graph"} {
		if err := tmpl.ExecuteTemplate(w, name, v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoryEscapes holds that the SVG carries alert titles and entity
// names as text, never as markup.
func TestStoryEscapes(t *testing.T) {
	t.Parallel()
	const evil = `<script>alert("pwned")</script><img src=x onerror=alert(1)>`
	alerts, entities := storyAlerts(3, 1, 1)
	for i := range alerts {
		alerts[i].Title = evil
		alerts[i].ID = `"><script>x</script>`
	}
	alerts[0].Evidence[0].Entity.Name = evil
	entities = nil // names from the evidence
	var b strings.Builder
	renderStory(t, storyTemplate(t), &b, buildStory(1, alerts, entities))
	out := b.String()
	if strings.Contains(out, "<script") || strings.Contains(out, "<img") {
		t.Fatalf("the story carries raw markup:\n%s", out)
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;", `<title>&lt;script&gt;`, "#alert-%22%3e%3cscript%3ex%3c/script%3e"} {
		if !strings.Contains(out, want) {
			t.Errorf("the story lacks %q:\n%.3000s", want, out)
		}
	}
}

// BenchmarkStory lays out and renders the story of a 500-alert incident.
func BenchmarkStory(b *testing.B) {
	alerts, entities := storyAlerts(500, 60, 12)
	tmpl := storyTemplate(b)
	b.ReportAllocs()
	for b.Loop() {
		renderStory(b, tmpl, io.Discard, buildStory(1, alerts, entities))
	}
}
