package app

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airsoc/air/activities"
	"github.com/airsoc/air/internal/notify"
	"github.com/airsoc/air/internal/records"
	"github.com/airsoc/air/internal/store"
)

func TestQuestionsGoToTheChannelsOfQuestionRules(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "air.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg, err := notify.Parse("notify.yaml", []byte(`
channels:
  soc-slack: {type: slack, urlEnv: SLACK}
  soc-teams: {type: teams, urlEnv: TEAMS}
rules:
  - {name: high, on: [incident.created], minSeverity: high, channels: [soc-teams]}
  - {name: questions, on: [question.asked], channels: [soc-slack]}
`), notify.Env{Getenv: func(string) string { return "https://hooks.example/x" }})
	if err != nil {
		t.Fatal(err)
	}
	chans := cfg.ChannelsFor(notify.OnQuestionAsked)
	if strings.Join(chans, ",") != "soc-slack" {
		t.Fatalf("question channels %v, want soc-slack only", chans)
	}
	q := questionNotifier{svc: &notify.Service{Store: st, Config: cfg}, channels: chans}
	m := activities.Message{Key: "question:q-1:0", IncidentID: 7, To: "alice@corp.example",
		Subject: "AIR incident 7 asks: was this you?", Body: "Did you sign in from BR?"}
	for range 2 { // a retried activity tells once
		if err := q.Notify(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.QueryNotifications(ctx, records.NotificationQuery{Key: "question:q-1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 1 || page.Value[0].Channel != "soc-slack" || !strings.HasPrefix(page.Value[0].Text, "For alice@corp.example: ") {
		t.Errorf("queued %+v, want one message to soc-slack naming the user", page.Value)
	}
}
