// The quarterly rotation's checklist issue (called from actions/github-script): opened at the
// start of the rotation window, or commented on when one is still open from an earlier run.
module.exports = async ({ github, context }) => {
  const { owner, repo } = context.repo;
  const title = '[Quarterly Rotation] Checklist open';
  const runUrl = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
  const body = [
    `Quarterly rotation window started: ${runUrl}`,
    '',
    '- [ ] Confirm which operating accounts and exchanges are in scope',
    '- [ ] Put the new exchange credentials in the ROTATE_* repository secrets (and the current ones in ROLLBACK_*)',
    '- [ ] Run the Quarterly Rotation workflow',
    '- [ ] Confirm the post-rotation validation is green',
    '- [ ] If it failed: confirm the rollback was applied and validated',
    '- [ ] Revoke the old credentials at Binance and IBKR',
    '- [ ] Record the evidence and the date of the next rotation; close this issue',
  ].join('\n');
  const open = await github.paginate(github.rest.issues.listForRepo, { owner, repo, state: 'open', per_page: 100 });
  const existing = open.find((issue) => issue.title === title);
  if (existing) {
    await github.rest.issues.createComment({ owner, repo, issue_number: existing.number, body });
  } else {
    await github.rest.issues.create({ owner, repo, title, body });
  }
};
