package avlib

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	if err := Load(); err != nil {
		t.Fatal(err)
	}
	if err := Load(); err != nil {
		t.Fatalf("second Load: %v", err)
	}
	libs := Libraries()
	if len(libs) != 3 {
		t.Fatalf("libraries %v", libs)
	}
	for i, want := range []string{"libavutil.so.", "libswscale.so.", "libavcodec.so."} {
		if !strings.HasPrefix(libs[i], want) {
			t.Errorf("library %d is %s, want %s*", i, libs[i], want)
		}
	}
}
