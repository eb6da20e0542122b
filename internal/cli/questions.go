package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airsoc/air/internal/api"
	"github.com/airsoc/air/internal/domain"
	"github.com/airsoc/air/internal/records"
)

// questions dispatches `starter questions …`: the questions playbooks'
// ask steps put to people.
func questions(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{"questions: missing subcommand"}
	}
	switch args[0] {
	case "list":
		return questionsList(ctx, env, args[1:])
	case "answer":
		return questionsAnswer(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown command %q", "questions "+args[0])}
}

// questionsList is `starter questions list`: open questions by default.
func questionsList(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "questions list")
	filters := map[string]*string{
		"status":     fs.String("status", "", "open (the default), answered, timedOut, cancelled or all; comma-separated"),
		"audience":   fs.String("audience", "", "analyst or user"),
		"incidentId": fs.String("incident", "", "incident ids, comma-separated"),
		"limit":      fs.String("limit", "", "rows per page (at most 1000)"),
		"offset":     fs.String("offset", "", "rows to skip"),
	}
	out := outputFlag(fs, "table", "table|json")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := checkOutput(*out, "table|json"); err != nil {
		return err
	}
	var page records.QuestionPage
	if table, err := listPage(ctx, env, "/api/v1/questions", url.Values{}, filters, *out, &page); err != nil || !table {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINCIDENT\tTO\tQUESTION\tCHOICES\tSTATUS\tANSWER\tDEADLINE")
	for _, q := range page.Value {
		to := string(q.Audience)
		if q.Recipient != "" {
			to += " " + q.RecipientName
		}
		choices := strings.Join(q.Choices, " | ")
		if q.Multiple {
			choices += " (several)"
		}
		answer := strings.Join(q.Answer, ", ")
		if q.AnsweredBy != "" {
			answer += " by " + q.AnsweredBy
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", q.ID, q.IncidentID, to, oneLine(q.Text, 60), oneLine(choices, 50),
			q.Status, answer, q.Deadline.UTC().Format(time.DateTime))
	}
	tw.Flush()
	morePages(env, page.Total, page.Offset, len(page.Value))
	return nil
}

// questionsAnswer is `starter questions answer ID CHOICE [CHOICE…] [-m note]`:
// several choices answer a question that takes several.
func questionsAnswer(ctx context.Context, env Env, args []string) error {
	fs := newFlags(env, "questions answer")
	note := fs.String("m", "", "note recorded with the answer")
	fs.StringVar(note, "note", "", "same as -m")
	out := outputFlag(fs, "table", "table|json")
	pos, err := parsePositional(fs, args, out, "table|json", "a question id and the answer (one or more choices)",
		func(n int) bool { return n >= 2 })
	if err != nil {
		return err
	}
	body, _ := json.Marshal(api.AnswerBody{Answer: api.Choices(pos[1:]), Note: *note})
	var q domain.Question
	if _, err := call(ctx, env, http.MethodPost, "/api/v1/questions/"+url.PathEscape(pos[0])+"/answer", body, &q); err != nil {
		return err
	}
	if *out == "json" {
		printJSON(env.Stdout, q)
		return nil
	}
	fmt.Fprintf(env.Stdout, "question %s (incident %d): %s by %s\n", q.ID, q.IncidentID, strings.Join(q.Answer, ", "), q.AnsweredBy)
	return nil
}
