package control

import "slices"

// SDKMethods are the names of every method a command may offer, sorted:
// a method of this list that a command does not offer is NOT_SUPPORTED
// there rather than UNKNOWN_METHOD. Read it, do not change it.
var SDKMethods = []string{
	"addPublishOriginStreamUrl",
	"disableAudioLevelReport",
	"enableAudioLevelReport",
	"getAudioMixingDuration",
	"getAudioMixingTime",
	"getDownlinkAudioStats",
	"getDownlinkVideoStats",
	"getSessionStats",
	"getUplinkAudioStats",
	"getUplinkVideoStats",
	"leaveRoom",
	"muteLocalAudio",
	"muteLocalVideo",
	"pauseAudioMixing",
	"publish",
	"removePublishOriginStreamUrl",
	"resumeAudioMixing",
	"setAudioMixingTime",
	"setAudioMixingVolume",
	"setRemoteAudioVolume",
	"setToneVolume",
	"startAudioMixing",
	"stopAudioMixing",
	"subscribe",
	"unpublish",
	"unsubscribe",
	"updateToken",
}

func isSDKMethod(name string) bool {
	return slices.Contains(SDKMethods, name)
}
