package domain

import (
	"slices"
	"strconv"
	"strings"
)

// MaxAssetNames bounds the impacted-asset names an incident keeps per kind;
// the counts stay exact.
const MaxAssetNames = 50

// Assets are an incident's impacted assets: per kind, the names (distinct,
// sorted, at most MaxAssetNames) and how many entities of that kind it
// has. The store keeps them in incident_summary (hence the column tags);
// plan mode derives them in memory the same way.
type Assets struct {
	Devices      StringList `db:"devices"`
	Users        StringList `db:"users"`
	Mailboxes    StringList `db:"mailboxes"`
	Apps         StringList `db:"apps"`
	DeviceCount  int        `db:"device_count"`
	UserCount    int        `db:"user_count"`
	MailboxCount int        `db:"mailbox_count"`
	AppCount     int        `db:"app_count"`
}

// Add counts an entity of a kind among the assets; an entity of a kind
// that is no impacted asset (an IP, a file) is left out.
func (a *Assets) Add(kind EntityKind, name string) {
	var names *StringList
	var n *int
	switch kind {
	case KindDevice:
		names, n = &a.Devices, &a.DeviceCount
	case KindUser:
		names, n = &a.Users, &a.UserCount
	case KindMailbox:
		names, n = &a.Mailboxes, &a.MailboxCount
	case "cloudApp", "oauthApp":
		names, n = &a.Apps, &a.AppCount
	default:
		return
	}
	*n++
	if len(*names) < MaxAssetNames {
		*names = AddSorted(*names, name)
	}
}

// AddSorted adds v to a sorted list of distinct values, unless v is empty
// or already there. Like append, it may reuse list's array.
func AddSorted(list StringList, v string) StringList {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	out := append(list, v)
	slices.Sort(out)
	return out
}

// GeneratedName is the name AIR gives an incident that nobody renamed:
// IncidentTitle from its headline and main asset (the first name of the
// first kind of assets that has one: devices, users, mailboxes, apps),
// else IncidentName from its tactics, scope and service sources.
func GeneratedName(headline []string, assets Assets, categories, sources []string) string {
	asset, more, kind := "", 0, ""
	for _, a := range []struct {
		names StringList
		n     int
		kind  string
	}{{assets.Devices, assets.DeviceCount, "device"}, {assets.Users, assets.UserCount, "user"},
		{assets.Mailboxes, assets.MailboxCount, "mailbox"}, {assets.Apps, assets.AppCount, "app"}} {
		if len(a.names) > 0 {
			asset, more, kind = a.names[0], a.n-1, a.kind
			break
		}
	}
	if name := IncidentTitle(headline, asset, more, kind); name != "" {
		return name
	}
	return IncidentName(categories, assets.DeviceCount, assets.UserCount, sources)
}

// NewIncidentName is the name of an incident an alert opens, until its
// derived fields rename it: the alert's title, or for a recurring-noise
// incident "Recurring alerts on" its anchor entity (the name the alert's
// evidence gives it, else its key), "Recurring <product> alerts on" it
// when the alert names its product, and "Recurring "<title>" on" it for a
// detector that floods it (each product's noise on an entity, and each
// flooding detector's, is an incident of its own: correlate.NoiseKey).
func NewIncidentName(a *Alert, routine, flood bool, anchor EntityKey) string {
	if !routine {
		return a.Title
	}
	name := string(anchor)
	for _, ev := range a.Evidence {
		if ev.Entity != nil && ev.Entity.Key == anchor && ev.Entity.Name != "" {
			name = ev.Entity.Name
			break
		}
	}
	if flood && a.Title != "" {
		return "Recurring " + strconv.Quote(a.Title) + " on " + name
	}
	if product := strings.TrimSpace(a.ProductName); product != "" {
		return "Recurring " + product + " alerts on " + name
	}
	return "Recurring alerts on " + name
}
