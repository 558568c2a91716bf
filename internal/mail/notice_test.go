package mail

import (
	"strings"
	"testing"
)

// TestEmailChangeNoticeWithoutNewAddress: a notice whose data names no new
// address (the old address is unproven) reads as a sentence.
func TestEmailChangeNoticeWithoutNewAddress(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.render(KindEmailChangeNotice, view{Email: "ada@example.com", Product: "authd"}, subjectView{})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{r.Text, r.HTML} {
		if !strings.Contains(body, "the email address of your account.") || strings.Contains(body, " to .") {
			t.Errorf("body:\n%s", body)
		}
	}
}
