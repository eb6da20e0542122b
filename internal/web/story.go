package web

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/airsoc/air/internal/correlate"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/review"
)

// The Story tab draws an incident's attack as two server-rendered SVGs:
// its alerts on a timeline with one lane per MITRE ATT&CK tactic in
// kill-chain order (correlate.Tactics), and the entities its alerts name
// as a graph, linked where they share alerts. Everything is laid out
// here, in numbers; the template only writes elements, so html/template
// escapes every name and title (in SVG as in HTML). Alerts that fall in
// the same lane and time bucket become one bubble with their count, and
// the graph keeps the storyNodes entities named by the most alerts, so
// that a flood of thousands of alerts draws as a few hundred elements.

// storyFuncs are the template functions of the Story tab's drawing.
var storyFuncs = map[string]any{
	"n1":  func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"add": func(a, b int) int { return a + b },
	"sub": func(a, b int) int { return a - b },
}

// Story layout, in SVG user units (the drawing scales to the page).
const (
	storyWidth     = 1000
	storyLabelW    = 190 // the lanes' labels
	storyRight     = 24
	storyTop       = 8
	storyLaneH     = 24
	storyAxisH     = 34
	storyBuckets   = 40  // time buckets across the plot: 20 units each
	storyNodes     = 30  // entities drawn
	storyRadius    = 165 // many nodes
	storyRadiusFew = 120
	storyFlat      = 12 // at most this many nodes: labels across, not radial
	storyLabelL    = 24 // characters of a node's label
)

// storyView is the Story tab.
type storyView struct {
	Alerts int
	// Timeline.
	Width, Height       int
	PlotLeft, PlotRight int
	AxisY               int
	Lanes               []storyLane
	Marks               []storyMark
	Ticks               []storyTick
	// Graph.
	GraphHeight    int
	CX, CY         float64
	Nodes          []storyNode
	Edges          []storyEdge
	Kinds          []storyKind
	EntityCount    int // entities the alerts name, drawn or not
	HiddenEntities int
}

type storyLane struct {
	Name, ID, Label string
	Y, TextY        int
	Alerts          int
	Odd             bool
}

type storyMark struct {
	X, Y, R   float64
	Count     int
	CountText string
	Fill, Ink string
	Title     string
	Link      string
}

type storyTick struct {
	X             float64
	Label, Anchor string
}

type storyNode struct {
	Key            domain.EntityKey
	Kind           domain.EntityKind
	Name, Label    string
	Alerts         int
	X, Y, R        float64
	LabelX, LabelY float64
	Rotate         float64
	Transform      string // the label's rotation, radial
	Anchor         string
	Fill           string
}

type storyEdge struct {
	// D is the path: a curve bent towards the circle's centre.
	D      string
	Width  float64
	Shared int
	Title  string
}

type storyKind struct {
	Kind  domain.EntityKind
	Fill  string
	Count int
	X     int
}

// severityInk is a severity's fill and the ink of a count on it.
var severityInk = map[domain.Severity][2]string{
	domain.SeverityHigh:          {"#c62828", "#fff"},
	domain.SeverityMedium:        {"#ef6c00", "#fff"},
	domain.SeverityLow:           {"#fbc02d", "#222"},
	domain.SeverityInformational: {"#78909c", "#fff"},
}

// kindFill colours the graph's nodes by kind; kinds not named here are grey.
var kindFill = map[domain.EntityKind]string{
	domain.KindDevice: "#1565c0", domain.KindUser: "#6a1b9a", domain.KindMailbox: "#00838f",
	domain.KindIP: "#2e7d32", domain.KindURL: "#e65100", domain.KindFile: "#ad1457",
	domain.KindProcess: "#5d4037", domain.KindMessage: "#00695c",
}

var kindOrder = []domain.EntityKind{domain.KindDevice, domain.KindUser, domain.KindMailbox, domain.KindIP,
	domain.KindURL, domain.KindFile, domain.KindProcess, domain.KindMessage}

func sevRank(s domain.Severity) int {
	return map[domain.Severity]int{domain.SeverityHigh: 4, domain.SeverityMedium: 3, domain.SeverityLow: 2,
		domain.SeverityInformational: 1}[s]
}

// storyTime is when an alert's activity began, as far as it says.
func storyTime(a *domain.Alert) time.Time {
	if f := a.FirstActivityDateTime; f != nil && !f.IsZero() {
		return *f
	}
	return a.CreatedDateTime
}

// buildStory lays out an incident's story from its alerts and entities.
func buildStory(incidentID int64, alerts []domain.Alert, entities []domain.Entity) *storyView {
	v := &storyView{Alerts: len(alerts), Width: storyWidth, PlotLeft: storyLabelW, PlotRight: storyWidth - storyRight}
	storyTimeline(v, incidentID, alerts)
	storyGraph(v, alerts, entities)
	return v
}

// storyTimeline places the alerts: one lane per tactic (every tactic, so
// that the kill chain reads whole, and "Other" for categories that are
// none), x by time in storyBuckets buckets.
func storyTimeline(v *storyView, incidentID int64, alerts []domain.Alert) {
	names := slices.Clone(correlate.Tactics)
	lane := func(a *domain.Alert) int {
		if r := correlate.TacticRank(a.Category); r > 0 {
			return r - 1
		}
		return len(correlate.Tactics)
	}
	var t0, t1 time.Time
	other := false
	for i := range alerts {
		t := storyTime(&alerts[i])
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
		if t.After(t1) {
			t1 = t
		}
		other = other || lane(&alerts[i]) == len(correlate.Tactics)
	}
	if other {
		names = append(names, "Other")
	}
	for i, n := range names {
		y := storyTop + i*storyLaneH
		l := storyLane{Name: n, Label: label(n), Y: y, TextY: y + storyLaneH/2 + 4, Odd: i%2 == 1}
		if n != "Other" {
			l.ID = review.TacticID(n)
		} else {
			l.Label = "Other categories"
		}
		v.Lanes = append(v.Lanes, l)
	}
	v.AxisY = storyTop + len(names)*storyLaneH
	v.Height = v.AxisY + storyAxisH
	plotW := float64(v.PlotRight - v.PlotLeft)
	span := t1.Sub(t0)
	bucket := func(t time.Time) int {
		if span <= 0 {
			return storyBuckets / 2
		}
		return min(storyBuckets-1, int(float64(t.Sub(t0))/float64(span)*storyBuckets))
	}

	type cell struct{ lane, bucket int }
	type group struct {
		alerts      []*domain.Alert
		from, until time.Time
		sev         domain.Severity
	}
	groups := map[cell]*group{}
	for i := range alerts {
		a := &alerts[i]
		c := cell{lane(a), bucket(storyTime(a))}
		g := groups[c]
		if g == nil {
			g = &group{}
			groups[c] = g
		}
		t := storyTime(a)
		if len(g.alerts) == 0 || t.Before(g.from) {
			g.from = t
		}
		if t.After(g.until) {
			g.until = t
		}
		if sevRank(a.Severity) > sevRank(g.sev) || g.sev == "" {
			g.sev = a.Severity
		}
		g.alerts = append(g.alerts, a)
		v.Lanes[c.lane].Alerts++
	}
	cells := make([]cell, 0, len(groups))
	for c := range groups {
		cells = append(cells, c)
	}
	slices.SortFunc(cells, func(a, b cell) int { return cmp.Or(cmp.Compare(a.lane, b.lane), cmp.Compare(a.bucket, b.bucket)) })
	bw := plotW / storyBuckets
	for _, c := range cells {
		g := groups[c]
		ink, ok := severityInk[g.sev]
		if !ok {
			ink = [2]string{"#b0bec5", "#222"}
		}
		m := storyMark{X: float64(v.PlotLeft) + (float64(c.bucket)+0.5)*bw, Y: float64(v.Lanes[c.lane].Y) + storyLaneH/2,
			Count: len(g.alerts), Fill: ink[0], Ink: ink[1]}
		if m.Count == 1 {
			a := g.alerts[0]
			m.R = 5
			m.Title = fmt.Sprintf("%s\n%s · %s", a.Title, label(a.Severity), storyStamp(storyTime(a)))
			m.Link = fmt.Sprintf("/incidents/%d?tab=alerts#alert-%s", incidentID, a.ID)
		} else {
			m.R = math.Min(storyLaneH/2-1.5, 6.5+1.4*math.Log2(float64(m.Count)))
			m.CountText = countText(m.Count)
			m.Title = groupTitle(g.alerts, g.from, g.until)
			m.Link = fmt.Sprintf("/incidents/%d?tab=alerts", incidentID)
		}
		m.X, m.Y, m.R = r1(m.X), r1(m.Y), r1(m.R)
		v.Marks = append(v.Marks, m)
	}
	if len(alerts) == 0 {
		return
	}
	if span <= 0 {
		v.Ticks = []storyTick{{X: r1(float64(v.PlotLeft) + plotW/2), Label: storyStamp(t0), Anchor: "middle"}}
		return
	}
	for i := 0; i <= 4; i++ {
		t := t0.Add(time.Duration(float64(span) * float64(i) / 4))
		format := "Jan 2"
		if span <= 48*time.Hour {
			format = "Jan 2 15:04"
		}
		anchor := "middle" // the last label ends at the plot's edge, inside the drawing
		if i == 4 {
			anchor = "end"
		}
		v.Ticks = append(v.Ticks, storyTick{X: r1(float64(v.PlotLeft) + plotW*float64(i)/4), Label: t.UTC().Format(format), Anchor: anchor})
	}
}

// r1 rounds a coordinate to a tenth of a unit, which the template prints
// as is: no function call per number when a flood draws hundreds.
func r1(f float64) float64 { return math.Round(f*10) / 10 }

func storyStamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func countText(n int) string {
	if n < 1000 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%dk", n/1000)
}

// groupTitle is a bubble's tooltip: how many alerts, when, and the
// titles, most frequent first, five at most.
func groupTitle(alerts []*domain.Alert, from, until time.Time) string {
	counts := map[string]int{}
	var titles []string
	for _, a := range alerts {
		if counts[a.Title] == 0 {
			titles = append(titles, a.Title)
		}
		counts[a.Title]++
	}
	slices.SortStableFunc(titles, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d alerts, %s to %s", len(alerts), storyStamp(from), storyStamp(until))
	for i, t := range titles {
		if i == 5 {
			fmt.Fprintf(&b, "\n… and %d more titles", len(titles)-5)
			break
		}
		fmt.Fprintf(&b, "\n• %s", t)
		if counts[t] > 1 {
			fmt.Fprintf(&b, " (×%d)", counts[t])
		}
	}
	return b.String()
}

// storyGraph places the entities named by the most alerts on a circle,
// grouped by kind, and links those that share alerts.
func storyGraph(v *storyView, alerts []domain.Alert, entities []domain.Entity) {
	known := map[domain.EntityKey]domain.Entity{}
	for _, e := range entities {
		known[e.Key] = e
	}
	count := map[domain.EntityKey]int{}
	for i := range alerts {
		for _, k := range correlate.AllKeys(&alerts[i]) {
			count[k]++
			if _, ok := known[k]; !ok {
				for _, ev := range alerts[i].Evidence {
					if ev.Entity != nil && ev.Entity.Key == k {
						known[k] = *ev.Entity
					}
				}
			}
		}
	}
	keys := make([]domain.EntityKey, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b domain.EntityKey) int { return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b)) })
	v.EntityCount = len(keys)
	if len(keys) > storyNodes {
		v.HiddenEntities = len(keys) - storyNodes
		keys = keys[:storyNodes]
	}
	rank := func(k domain.EntityKind) int {
		if i := slices.Index(kindOrder, k); i >= 0 {
			return i
		}
		return len(kindOrder)
	}
	slices.SortStableFunc(keys, func(a, b domain.EntityKey) int {
		ka, kb := known[a].Kind, known[b].Kind
		return cmp.Or(cmp.Compare(rank(ka), rank(kb)), cmp.Compare(ka, kb))
	})
	if len(keys) == 0 {
		return
	}
	// One empty slot between kinds, so that they read as groups.
	var kinds []domain.EntityKind
	for _, k := range keys {
		if kind := known[k].Kind; !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	slots := len(keys)
	if len(kinds) > 1 {
		slots += len(kinds)
	}
	// Few nodes: a smaller circle, labels written across beside their
	// node. Many: labels along the radius, so that neighbours' labels do
	// not run into each other; the drawing leaves room for the longest.
	radial := len(keys) > storyFlat
	radius, room := float64(storyRadiusFew), 26.0
	if radial {
		longest := 0
		for _, k := range keys {
			longest = max(longest, min(storyLabelL, utf8.RuneCountInString(cmp.Or(known[k].Name, string(k)))))
		}
		radius, room = storyRadius, 20+6.2*float64(longest)
	}
	v.CX, v.CY = storyWidth/2, 30+radius+room
	v.GraphHeight = int(2*(radius+room)) + 40
	index := map[domain.EntityKey]int{}
	slot := 0
	for i, k := range keys {
		e := known[k]
		if i > 0 && e.Kind != known[keys[i-1]].Kind {
			slot++
		}
		theta := -math.Pi/2 + 2*math.Pi*float64(slot)/float64(slots)
		slot++
		fill, ok := kindFill[e.Kind]
		if !ok {
			fill = "#546e7a"
		}
		n := storyNode{Key: k, Kind: e.Kind, Name: cmp.Or(e.Name, string(k)), Alerts: count[k], Fill: fill,
			R: math.Min(14, 5+1.6*math.Sqrt(float64(count[k]))),
			X: v.CX + radius*math.Cos(theta), Y: v.CY + radius*math.Sin(theta)}
		n.Label = n.Name
		if utf8.RuneCountInString(n.Label) > storyLabelL {
			n.Label = string([]rune(n.Label)[:storyLabelL-1]) + "…"
		}
		placeLabel(&n, theta, radius, v.CX, v.CY, radial)
		n.X, n.Y, n.R, n.LabelX, n.LabelY = r1(n.X), r1(n.Y), r1(n.R), r1(n.LabelX), r1(n.LabelY)
		index[k] = len(v.Nodes)
		v.Nodes = append(v.Nodes, n)
	}
	for _, kind := range kinds {
		c := 0
		for _, n := range v.Nodes {
			if n.Kind == kind {
				c++
			}
		}
		fill, ok := kindFill[kind]
		if !ok {
			fill = "#546e7a"
		}
		v.Kinds = append(v.Kinds, storyKind{Kind: kind, Fill: fill, Count: c, X: 8 + 120*len(v.Kinds)})
	}
	type pair struct{ a, b int }
	shared := map[pair]int{}
	for i := range alerts {
		var on []int
		for _, k := range correlate.AllKeys(&alerts[i]) {
			if j, ok := index[k]; ok {
				on = append(on, j)
			}
		}
		slices.Sort(on)
		for x := 0; x < len(on); x++ {
			for y := x + 1; y < len(on); y++ {
				shared[pair{on[x], on[y]}]++
			}
		}
	}
	pairs := make([]pair, 0, len(shared))
	for p := range shared {
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, func(x, y pair) int { return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b)) })
	for _, p := range pairs {
		a, b := v.Nodes[p.a], v.Nodes[p.b]
		n := shared[p]
		// A curve bent halfway towards the centre: neighbours join by a
		// short arc, opposite nodes through the middle.
		qx, qy := (v.CX+(a.X+b.X)/2)/2, (v.CY+(a.Y+b.Y)/2)/2
		v.Edges = append(v.Edges, storyEdge{Shared: n, Width: r1(math.Min(7, 1+1.2*math.Log2(float64(n)))),
			D:     fmt.Sprintf("M%.1f %.1f Q%.1f %.1f %.1f %.1f", a.X, a.Y, qx, qy, b.X, b.Y),
			Title: fmt.Sprintf("%s — %s: %d shared %s", a.Name, b.Name, n, plural(n, "alert", "alerts"))})
	}
}

// placeLabel puts a node's label just outside the circle: along the
// radius (turned to read left to right), or across beside the node, above
// or below it at the top and the bottom.
func placeLabel(n *storyNode, theta, radius, cx, cy float64, radial bool) {
	cos, sin := math.Cos(theta), math.Sin(theta)
	lr := radius + n.R + 6
	n.LabelX, n.LabelY = cx+lr*cos, cy+lr*sin
	if radial {
		deg := theta * 180 / math.Pi
		if cos >= -1e-9 {
			n.Anchor, n.Rotate = "start", deg
		} else {
			n.Anchor, n.Rotate = "end", deg+180
		}
		n.Transform = fmt.Sprintf("rotate(%.1f %.1f %.1f)", n.Rotate, n.LabelX, n.LabelY)
		return
	}
	switch {
	case cos > 0.35:
		n.Anchor = "start"
	case cos < -0.35:
		n.Anchor = "end"
	default:
		n.Anchor = "middle"
		n.LabelX = cx + radius*cos
		if sin < 0 {
			n.LabelY = cy + radius*sin - n.R - 8
		} else {
			n.LabelY = cy + radius*sin + n.R + 12
		}
	}
}
