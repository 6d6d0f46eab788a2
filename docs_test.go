package razormk_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	slugDrop  = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
	headingRe = regexp.MustCompile(`^#{1,6} +(.*?) *#*$`)
)

// slug is GitHub's heading anchor: lower-case, punctuation dropped but
// '-' and '_', spaces to '-'.
func slug(h string) string {
	return strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
}

// anchors returns the anchors of a Markdown text, outside code fences,
// with GitHub's -1, -2 suffixes for repeated headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
			continue
		}
		m := headingRe.FindStringSubmatch(l)
		if fence || m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// brokenLinks returns one line per relative link of files (path → text)
// whose file or anchor does not exist; exists reports other files.
func brokenLinks(files map[string]string, exists func(string) bool) []string {
	var out []string
	for name, text := range files {
		fence := false
		for i, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "```") {
				fence = !fence
			}
			if fence {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
				t := m[1]
				if strings.Contains(t, "://") || strings.HasPrefix(t, "mailto:") {
					continue
				}
				file, frag, _ := strings.Cut(t, "#")
				target := name
				if file != "" {
					target = filepath.Join(filepath.Dir(name), file)
				}
				body, known := files[target]
				if !known && !exists(target) {
					out = append(out, fmt.Sprintf("%s:%d: %s: no file %s", name, i+1, t, target))
					continue
				}
				if frag != "" && strings.HasSuffix(target, ".md") {
					if !known {
						b, err := os.ReadFile(target)
						if err == nil {
							body = string(b)
						}
					}
					if !anchors(body)[frag] {
						out = append(out, fmt.Sprintf("%s:%d: %s: no heading #%s in %s", name, i+1, t, frag, target))
					}
				}
			}
		}
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestDocsLinks checks every relative link and anchor in README.md and docs/*.md.
func TestDocsLinks(t *testing.T) {
	names, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, n := range append(names, "README.md") {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Clean(n)] = string(b)
	}
	for _, b := range brokenLinks(files, fileExists) {
		t.Error(b)
	}
}

// TestDocsLinksCatchBroken shows the check fails on a broken file link and anchor.
func TestDocsLinksCatchBroken(t *testing.T) {
	files := map[string]string{
		"README.md": "# Razor MK\n[ok](docs/a.md#the-flow-a--b) [bad](docs/missing.md) [x](#nowhere)\n",
		"docs/a.md": "# A\n## The flow: A → B\n[up](../README.md#razor-mk) [gone](../README.md#install)\n",
	}
	got := brokenLinks(files, func(string) bool { return false })
	if len(got) != 3 {
		t.Fatalf("want 3 broken links, got %d: %q", len(got), got)
	}
	for _, want := range []string{"docs/missing.md", "#nowhere", "#install"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("broken link %s not reported in %q", want, got)
		}
	}
}
