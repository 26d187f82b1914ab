package agent

// Surfaces maps each SDK's variables to the server path the agent's URL
// stands in for. The server serves each surface under its prefix; the
// agent forwards paths as they are.
var Surfaces = []struct {
	URLVar, KeyVar, Path string
}{
	{"OPENAI_BASE_URL", "OPENAI_API_KEY", "/openai/v1"},
	{"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "/anthropic"},
	{"HF_ENDPOINT", "HF_TOKEN", "/hf"},
	{"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "/mlflow"},
	{"WANDB_BASE_URL", "WANDB_API_KEY", "/wandb"},
}

// Env returns the variables a job runs with: each SDK's base URL pointing
// at the agent and its key set to the run's secret; for S3,
// AWS_ENDPOINT_URL_S3 at the agent's path for store, with the run's key
// pair. Nothing in it is an aicred token or a held key.
func (a *Agent) Env(store, region string) []string {
	base := a.URL()
	var env []string
	for _, s := range Surfaces {
		env = append(env, s.URLVar+"="+base+s.Path, s.KeyVar+"="+a.secret)
	}
	if region == "" {
		region = "us-east-1"
	}
	env = append(env,
		"AWS_ENDPOINT_URL_S3="+base+"/s3/"+store,
		"AWS_ACCESS_KEY_ID="+a.s3id,
		"AWS_SECRET_ACCESS_KEY="+a.secret,
		"AWS_REGION="+region,
		"AICRED_AGENT_URL="+base,
	)
	return env
}

// Scrubbed are the variables a job must not inherit: the workload's own
// credentials, which the agent stands in for.
var Scrubbed = []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
	"AICRED_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL"}
