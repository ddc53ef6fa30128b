package sms

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitAt1600(t *testing.T) {
	words := strings.Repeat("word ", 400) // 2,000 characters
	tests := []struct {
		name  string
		text  string
		parts []int // the length of each part, in UTF-16 code units
	}{
		{"empty", "", nil},
		{"only white space", " \n\t ", nil},
		{"short", "Yes, we open at noon.", []int{21}},
		{"exactly 1600", strings.Repeat("a", 1600), []int{1600}},
		{"1601 without a space", strings.Repeat("a", 1601), []int{1600, 1}},
		{"800 emoji are 1600 units", strings.Repeat("🦉", 800), []int{1600}},
		{"801 emoji", strings.Repeat("🦉", 801), []int{1600, 2}},
		{"an emoji is not cut in two", strings.Repeat("a", 1599) + "🦉", []int{1599, 2}},
		{"cut at the last space", words, []int{1599, 399}}, // "word" × 320 with their spaces, less the one cut at
		{"accents count one each", strings.Repeat("é", 1700), []int{1600, 100}},
	}
	for _, tt := range tests {
		got := split(tt.text, maxUnits)
		var lens []int
		for _, p := range got {
			lens = append(lens, units(p))
			if !utf8.ValidString(p) {
				t.Errorf("%s: a part is not valid UTF-8", tt.name)
			}
		}
		if len(lens) != len(tt.parts) {
			t.Errorf("%s: parts of %v units, want %v", tt.name, lens, tt.parts)
			continue
		}
		for i := range lens {
			if lens[i] != tt.parts[i] {
				t.Errorf("%s: parts of %v units, want %v", tt.name, lens, tt.parts)
				break
			}
		}
		if strings.Join(strings.Fields(strings.Join(got, " ")), " ") != strings.Join(strings.Fields(tt.text), " ") &&
			strings.Join(got, "") != tt.text {
			t.Errorf("%s: the parts do not add up to the text", tt.name)
		}
	}
}

func TestSplitKeepsLines(t *testing.T) {
	got := split("Hours:\r\nMon 9-5\r\nSun closed\r\n", maxUnits)
	if len(got) != 1 || got[0] != "Hours:\nMon 9-5\nSun closed" {
		t.Errorf("split = %q", got)
	}
}
