// The incident policy of the scheduled workflows (called from actions/github-script):
// a failed run opens an incident issue only when the run before it failed too (one red run can
// be a blip), an open incident gets a comment per further failure, and a green run closes it.
module.exports = async ({ github, context, core }, { title, workflowFile, failed, artifact }) => {
  const { owner, repo } = context.repo;
  const runUrl = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
  const open = await github.paginate(github.rest.issues.listForRepo, {
    owner, repo, state: 'open', labels: 'incident', per_page: 100,
  });
  const incident = open.find((issue) => issue.title === title);

  if (!failed) {
    if (incident) {
      await github.rest.issues.createComment({
        owner, repo, issue_number: incident.number, body: `Recovered: ${runUrl}`,
      });
      await github.rest.issues.update({ owner, repo, issue_number: incident.number, state: 'closed' });
      core.info(`closed incident #${incident.number}`);
    }
    return;
  }

  const body = [
    `${title.replace(/ Incident open$/, '')} failed (after two attempts and the redeploy remediation, when configured).`,
    '',
    `- Run: ${runUrl}`,
    `- Ref: ${context.ref}`,
    `- Logs and JSON snapshots: the run's artifact \`${artifact}\``,
    '',
    'What to do: docs/noc_lite.md (decision table) and docs/runbook_production.md.',
  ].join('\n');
  if (incident) {
    await github.rest.issues.createComment({ owner, repo, issue_number: incident.number, body });
    return;
  }
  // The current run is still in progress: the newest completed run of this workflow is the one before.
  const { data } = await github.rest.actions.listWorkflowRuns({
    owner, repo, workflow_id: workflowFile, status: 'completed', per_page: 1,
  });
  const previous = data.workflow_runs[0];
  if (!previous || previous.conclusion !== 'failure') {
    core.notice('First failure: an incident opens if the next run fails too.');
    return;
  }
  const { data: issue } = await github.rest.issues.create({ owner, repo, title, body, labels: ['incident'] });
  core.warning(`opened incident #${issue.number}`);
};
