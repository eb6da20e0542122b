package decode

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/airsoc/air/internal/domain"
)

// OCSF class ids this package decodes.
const (
	ClassSecurityFinding  = 2001 // OCSF 1.0 Security Finding (deprecated, still sent)
	ClassDetectionFinding = 2004 // OCSF 1.1+ Detection Finding
)

// ocsfSeverity maps severity_id (0 Unknown … 4 High, 5 Critical, 6 Fatal,
// 99 Other) to Graph's scale, which stops at high.
func ocsfSeverity(id float64, name string) domain.Severity {
	switch int(id) {
	case 1:
		return domain.SeverityInformational
	case 2:
		return domain.SeverityLow
	case 3:
		return domain.SeverityMedium
	case 4, 5, 6:
		return domain.SeverityHigh
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "informational", "info":
		return domain.SeverityInformational
	case "low":
		return domain.SeverityLow
	case "medium":
		return domain.SeverityMedium
	case "high", "critical", "fatal":
		return domain.SeverityHigh
	}
	return domain.SeverityUnknown
}

// ocsfStatus maps a finding's status_id (2004) or state_id (2001): 1 New,
// 2 In Progress, 3 Suppressed, 4 Resolved, 5 Archived, 6 Deleted.
func ocsfStatus(id float64, name string) domain.AlertStatus {
	switch int(id) {
	case 2:
		return domain.AlertInProgress
	case 3, 4, 5, 6:
		return domain.AlertResolved
	case 1:
		return domain.AlertNew
	}
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), " ", "")) {
	case "inprogress":
		return domain.AlertInProgress
	case "resolved", "suppressed", "archived", "closed", "deleted":
		return domain.AlertResolved
	}
	return domain.AlertNew
}

// ocsfVerdict maps an evidence verdict_id: 2 True Positive and 8 Security
// Risk are malicious, 4 Suspicious suspicious, 1 False Positive and 5 Benign
// no threat.
func ocsfVerdict(n *node) domain.Verdict {
	id, _ := n.num("verdict_id")
	switch int(id) {
	case 2, 8:
		return domain.VerdictMalicious
	case 4:
		return domain.VerdictSuspicious
	case 1, 5:
		return domain.VerdictNoThreatsFound
	}
	return domain.VerdictUnknown
}

// ocsfEvidenceKeys are the evidences[] attributes this package maps to
// entities; any other attribute present on an evidence item is kept as an
// unknown evidence type ("ocsf.<name>") and reported.
var ocsfEvidenceKeys = []string{"device", "user", "actor", "src_endpoint", "dst_endpoint", "file", "process",
	"url", "email", "verdict", "verdict_id", "name", "uid", "data"}

// DecodeOCSF decodes one OCSF Detection Finding (class_uid 2004) or Security
// Finding (2001) into an alert. The id is finding_info.uid (2004) or
// finding.uid (2001), else metadata.uid; times are OCSF timestamps
// (milliseconds, or the _dt twins); entities come from evidences[], the
// finding's device and actor, and observables. Its error names the field.
func DecodeOCSF(raw json.RawMessage) (*domain.Alert, error) {
	a, _, err := decodeOCSF(raw)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func decodeOCSF(raw []byte) (*domain.Alert, string, *domain.Error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, "", domain.Invalid("", "want an OCSF finding object")
	}
	n := newNode(m, "", nil)
	class, _ := n.num("class_uid")
	if class != ClassDetectionFinding && class != ClassSecurityFinding {
		return nil, "", domain.Invalid("class_uid", "want 2004 (Detection Finding) or 2001 (Security Finding), got %v", m["class_uid"])
	}
	info := n.obj("finding_info")
	if info == nil {
		info = n.obj("finding") // 2001
	}
	meta := n.obj("metadata")
	product := meta.obj("product")

	a := &domain.Alert{Raw: json.RawMessage(slices.Clone(raw))}
	a.ID = firstNonEmpty(info.str("uid"), meta.str("uid"))
	if a.ID == "" && n.failed() == nil {
		field := "finding_info.uid"
		if class == ClassSecurityFinding {
			field = "finding.uid"
		}
		n.fail(domain.Invalid(field, "required: the finding's unique id"))
	}
	a.ProviderAlertID = a.ID
	a.Title = firstNonEmpty(info.str("title"), n.str("message"), n.str("type_name"))
	a.Description = firstNonEmpty(info.str("desc"), n.str("message"))
	sevID, _ := n.num("severity_id")
	a.Severity = ocsfSeverity(sevID, n.str("severity"))
	if class == ClassSecurityFinding {
		st, _ := n.num("state_id")
		a.Status = ocsfStatus(st, n.str("state"))
	} else {
		st, _ := n.num("status_id")
		a.Status = ocsfStatus(st, n.str("status"))
	}
	a.ProductName = product.str("name")
	a.ServiceSource = firstNonEmpty(product.str("vendor_name"), product.str("name"))
	analytic := info.obj("analytic")
	if analytic == nil {
		analytic = n.obj("analytic")
	}
	a.DetectionSource = firstNonEmpty(analytic.str("type"), "ocsf")
	types := info.strs("types")
	a.DetectorID = firstNonEmpty(analytic.str("uid"), analytic.str("name"), first(types), meta.str("event_code"), a.Title)
	for _, rem := range n.objs("remediation") {
		a.RecommendedActions = firstNonEmpty(a.RecommendedActions, rem.str("desc"))
	}

	attacks := info.objs("attacks")
	attacks = append(attacks, n.objs("attacks")...)
	for _, at := range attacks {
		tactic := at.obj("tactic")
		if a.Category == "" {
			a.Category = camel(tactic.str("name"))
		}
		for _, tech := range []*node{at.obj("technique"), at.obj("sub_technique")} {
			if id := strings.TrimSpace(tech.str("uid")); id != "" && !slices.Contains(a.MitreTechniques, id) {
				a.MitreTechniques = append(a.MitreTechniques, id)
			}
		}
	}
	if a.Category == "" {
		// AWS writes "TTPs/Defense Evasion/Stealth:..." in finding types.
		for _, t := range types {
			if parts := strings.Split(t, "/"); len(parts) >= 2 && parts[0] == "TTPs" {
				a.Category = camel(parts[1])
				break
			}
		}
	}

	when := n.when("time")
	created := firstTime(info.when("created_time"), when)
	updated := firstTime(info.when("modified_time"), meta.when("modified_time"), created)
	a.FirstActivityDateTime = firstTime(info.when("first_seen_time"), n.when("start_time"))
	a.LastActivityDateTime = firstTime(info.when("last_seen_time"), n.when("end_time"))
	if created == nil {
		created = firstTime(a.FirstActivityDateTime, updated)
	}
	if created == nil && n.failed() == nil {
		n.fail(domain.Invalid("time", "required: when the finding was created (time or time_dt)"))
	}
	if created != nil {
		a.CreatedDateTime = *created
		a.LastUpdateDateTime = *created
	}
	if updated != nil && updated.After(a.LastUpdateDateTime) {
		a.LastUpdateDateTime = *updated
	}
	if a.Status == domain.AlertResolved {
		a.ResolvedDateTime = updated
	}

	a.Evidence = ocsfEvidence(n)
	if err := n.failed(); err != nil {
		return nil, a.ID, err
	}
	return a, a.ID, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func firstTime(ts ...*time.Time) *time.Time {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}

func ocsfEvidence(n *node) []domain.Evidence {
	var out []domain.Evidence
	add1 := func(ev domain.Evidence, ok bool) { out = add(out, ev, ok) }
	fromDevice := func(d *node, v domain.Verdict) {
		if d == nil {
			return
		}
		dev := device{mde: d.str("uid"), host: firstNonEmpty(d.str("hostname"), d.str("name")), ip: d.str("ip")}
		if h := dev.host; strings.Contains(h, ".") {
			dev.dns = h
		}
		if os := d.obj("os"); os != nil {
			dev.os = firstNonEmpty(os.str("name"), os.str("type"))
		}
		if g := d.objs("groups"); len(g) > 0 {
			dev.group = g[0].str("name")
		}
		add1(dev.evidence(v))
		add1(ipEvidence(d.str("ip"), "", v))
	}
	fromUser := func(u *node, v domain.Verdict) {
		if u == nil {
			return
		}
		acc := account{name: u.str("name"), domain: u.str("domain"), display: u.str("full_name")}
		uid := u.str("uid")
		switch {
		case strings.HasPrefix(strings.ToUpper(uid), "S-1-"):
			acc.sid = uid
		case len(uid) == 36 && strings.Count(uid, "-") == 4:
			acc.aadID = uid
		}
		if strings.Contains(acc.name, "@") {
			acc.upn = acc.name
		} else if e := u.str("email_addr"); e != "" {
			acc.upn = e
		}
		add1(acc.evidence(v))
	}
	fromEndpoint := func(e *node, v domain.Verdict) {
		if e == nil {
			return
		}
		if h := firstNonEmpty(e.str("hostname"), e.str("name")); h != "" || e.str("uid") != "" {
			fromDevice(e, v)
			return
		}
		country := ""
		if loc := e.obj("location"); loc != nil {
			country = loc.str("country")
			if len(country) != 2 {
				country = ""
			}
		}
		add1(ipEvidence(e.str("ip"), country, v))
	}
	fromFile := func(f *node, mde string, v domain.Verdict) {
		if f == nil {
			return
		}
		fl := file{name: f.str("name"), path: f.str("path"), mde: mde}
		for _, h := range f.objs("hashes") {
			alg, _ := h.num("algorithm_id")
			switch {
			case alg == 1 || strings.EqualFold(h.str("algorithm"), "MD5"):
				fl.md5 = h.str("value")
			case alg == 2 || strings.EqualFold(h.str("algorithm"), "SHA-1"):
				fl.sha1 = h.str("value")
			case alg == 3 || strings.EqualFold(h.str("algorithm"), "SHA-256"):
				fl.sha256 = h.str("value")
			}
		}
		add1(fl.evidence(v))
	}
	fromProcess := func(p *node, mde string, v domain.Verdict) {
		if p == nil {
			return
		}
		pr := process{mde: mde, cmd: p.str("cmd_line"), created: p.when("created_time")}
		if pid, ok := p.num("pid"); ok {
			pr.pid, pr.hasPID = int64(pid), true
		}
		if f := p.obj("file"); f != nil {
			pr.image = f.str("name")
			fromFile(f, mde, v)
		}
		add1(pr.evidence(v))
		fromUser(p.obj("user"), v)
	}

	topDevice := n.obj("device")
	mde := topDevice.str("uid")
	fromDevice(topDevice, domain.VerdictUnknown)
	if actor := n.obj("actor"); actor != nil {
		fromUser(actor.obj("user"), domain.VerdictUnknown)
		fromProcess(actor.obj("process"), mde, domain.VerdictUnknown)
	}
	for _, ev := range n.objs("evidences") {
		v := ocsfVerdict(ev)
		dev := ev.obj("device")
		emde := firstNonEmpty(dev.str("uid"), mde)
		fromDevice(dev, v)
		fromUser(ev.obj("user"), v)
		if actor := ev.obj("actor"); actor != nil {
			fromUser(actor.obj("user"), v)
			fromProcess(actor.obj("process"), emde, v)
		}
		fromEndpoint(ev.obj("src_endpoint"), v)
		fromEndpoint(ev.obj("dst_endpoint"), v)
		fromFile(ev.obj("file"), emde, v)
		fromProcess(ev.obj("process"), emde, v)
		if u := ev.obj("url"); u != nil {
			add1(urlEvidence(firstNonEmpty(u.str("url_string"), joinURL(u)), v))
		}
		if em := ev.obj("email"); em != nil {
			msg := message{nmid: em.str("uid"), imid: em.str("message_uid"), subject: em.str("subject"),
				p1: em.str("from"), recipient: first(em.strs("to"))}
			add1(msg.evidence(v))
		}
		var unknown []string
		for k := range ev.m {
			if !slices.Contains(ocsfEvidenceKeys, k) {
				unknown = append(unknown, k)
			}
		}
		slices.Sort(unknown) // map order is random; reports should not be
		for _, k := range unknown {
			// Kept verbatim in Raw; reported as an unknown evidence type.
			out = append(out, typeOnly("ocsf."+k))
		}
	}
	for _, ob := range n.objs("observables") {
		id, _ := ob.num("type_id")
		val := ob.str("value")
		switch int(id) {
		case 1: // Hostname
			dev := device{host: val}
			if strings.Contains(val, ".") {
				dev.dns = val
			}
			add1(dev.evidence(domain.VerdictUnknown))
		case 2: // IP Address
			add1(ipEvidence(val, "", domain.VerdictUnknown))
		case 5: // Email Address
			add1(mailboxEvidence(val, "", "", domain.VerdictUnknown))
		case 6: // URL String
			add1(urlEvidence(val, domain.VerdictUnknown))
		case 8: // Hash
			switch len(strings.TrimSpace(val)) {
			case 64:
				add1(file{sha256: val}.evidence(domain.VerdictUnknown))
			case 40:
				add1(file{sha1: val}.evidence(domain.VerdictUnknown))
			case 32:
				add1(file{md5: val}.evidence(domain.VerdictUnknown))
			}
		}
	}
	return out
}

func joinURL(u *node) string {
	host := u.str("hostname")
	if host == "" {
		return ""
	}
	scheme := firstNonEmpty(u.str("scheme"), "https")
	return scheme + "://" + host + u.str("path")
}
