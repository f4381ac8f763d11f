// What the gateway refused, said in the operator's language: the API's refusals carry a code
// and their particulars already named ({zh, en}); the English "error" is the fallback.

import { lang, t, L } from './texts.js';

const R = {
  nothing_to_confirm: ['已无可确认的内容', 'There is nothing left to confirm'],
  nothing_to_reject: ['没有待核实的报警可判为误报', 'There is no open verification to reject'],
  reject_needs_note: ['请说明核实结果（误报原因）', 'Say what was found (the cause of the false alarm)'],
  no_branch: ['没有决策「{branch}」', 'There is no decision "{branch}"'],
  playbook_changed: ['预案已更改，此项已不存在；请刷新页面', 'The playbook has changed and this no longer exists; reload the page'],
  no_option: ['「{branch}」没有此选项', '"{branch}" has no such option'],
  branch_decided: ['「{branch}」已由 {actor} 决定：{option}', '"{branch}" was already decided by {actor}: {option}'],
  no_step: ['没有步骤「{step}」', 'There is no step "{step}"'],
  step_done: ['步骤「{step}」已由 {actor} 完成', 'Step "{step}" was already done by {actor}'],
  no_role: ['没有角色「{role}」', 'There is no role "{role}"'],
  yes_or_no: ['请回答“是”或“否”', 'Answer yes or no'],
  no_prompt: ['没有提示「{prompt}」', 'There is no prompt "{prompt}"'],
  prompt_settled: ['提示「{prompt}」已由 {actor} 处理', 'Prompt "{prompt}" was already settled by {actor}'],
  second_operator: ['提示「{prompt}」需另一位值班员确认：{actor} 已回答“是”', 'Prompt "{prompt}" needs a second operator: {actor} already said yes'],
  needs_reason: ['预案尚有未完成的工作（{gaps}）。请填写原因，原因将记录在案并写入报告。', 'Work of the playbook is left undone ({gaps}). Give the reason: it goes on record and in the report.'],
  not_a_time: ['「{value}」不是时间（可写 现在、-5m、14:05 或 2026-11-25 14:05）', '"{value}" is not a time (write now, -5m, 14:05 or 2026-11-25 14:05)'],
  who: ['请说明操作人', 'Say who you are'],
  no_command: ['未知操作「{value}」', 'Unknown command "{value}"'],
  no_incident: ['没有事件 {incident}', 'There is no incident {incident}'],
  closed: ['事件已由 {actor} 关闭，需先重新打开', 'The incident was closed by {actor}: reopen it first'],
  no_playbook: ['没有预案「{value}」', 'There is no playbook "{value}"'],
  not_manual: ['此预案只由设备触发', 'This playbook is opened by its devices only'],
  no_building: ['没有楼栋「{value}」', 'There is no building "{value}"'],
  already_open: ['同一位置的同类事件 {incident} 正在处理中，请在该事件中继续', '{incident} is open for the same place and playbook: work that one'],
  already_acknowledged: ['已由 {actor} 确认接警', 'Already acknowledged by {actor}'],
  not_acknowledged: ['尚未确认接警，请先确认', 'Not acknowledged yet: acknowledge it first'],
  already_resolved: ['已由 {actor} 标记处置完毕', 'Already resolved by {actor}'],
  needs_review: ['关闭前需填写复盘：{review}', 'Closing needs the review: {review}'],
  needs_records: ['关闭前需先填写记录：{record}', 'Closing needs these records first: {record}'],
  nothing_to_reopen: ['事件尚未处置完毕或关闭，无需重新打开', 'The incident is neither resolved nor closed: there is nothing to reopen'],
  reopen_reason: ['请说明重新打开的原因', 'Say why it is reopened'],
  commander: ['请填写现场指挥', 'Name the commander'],
  note_text: ['备注不能为空', 'A note needs text'],
  no_record: ['没有记录项「{record}」', 'There is no record "{record}"'],
  record_value: ['请填写「{record}」', 'Fill in "{record}"'],
  future: ['「{record}」{value} 晚于当前时间', '"{record}" {value} is in the future'],
  not_a_number: ['「{record}」应填数字，而不是「{value}」', '"{record}" must be a number, not "{value}"'],
  no_follow_up: ['没有此回访任务', 'There is no such follow-up'],
  follow_up_done: ['此回访任务已由 {actor} 完成', 'This follow-up was already done by {actor}'],
  follow_up_note: ['请填写回访结果', 'Say what the resident said'],
  drill_length: ['演练时长为 1 分钟至 4 小时', 'A drill lasts between 1 minute and 4 hours'],
  no_point: ['没有点位「{value}」', 'There is no point "{value}"'],
  shelve_terms: ['屏蔽需填写原因，时长为 1 分钟至 24 小时', 'Shelving needs a reason and lasts between 1 minute and 24 hours'],
  not_shelved: ['点位「{point}」未被屏蔽', 'Point "{point}" is not shelved'],
  reload_refused: ['配置有误，未重新加载：{detail}', 'The config was refused and not reloaded: {detail}'],
  no_actuator: ['没有联动设备「{value}」', 'There is no actuator "{value}"'],
  no_actuator_command: ['{actuator}没有指令「{value}」', '{actuator} has no command "{value}"'],
  actuate_reason: ['请说明下达指令的原因，原因将记录在案', 'Say why: the reason goes on record'],
  no_drill: ['演练期间才能以演练方式下达指令（写入被拦截）：请先开始演练', 'A drill\'s command needs the drill window on: start the drill first'],
  internal: ['网关内部错误（已记录）', 'An internal error of the gateway (logged)'],
  login_throttled: ['此地址登录失败次数过多，请 {seconds} 秒后再试', 'Too many failed logins from this address: try again in {seconds} s'],
  login_busy: ['此账号正在从本机登录，请稍后再试', 'Another login for this account is being checked: try again'],
  login_wrong: ['用户名或密码错误', 'Wrong user name or password'],
  session: ['会话已结束，请重新登录', 'The session has ended: log in again'],
  forbidden: ['您的角色无权执行此操作', 'Your role may not do this'],
  timeout: ['网关未及时应答；操作已排队，网关恢复后执行', 'The gateway did not answer in time; the command stays queued and is applied when it does'],
  too_large: ['提交的内容过大', 'The request is too large'],
  cross_origin: ['请求来源不明，已拒绝', 'A request from another site was refused'],
  json_only: ['请求格式不对', 'The request is not in the form the gateway reads'],
  invalid: ['「{field}」填写有误', '"{field}" is not valid'],
  no_person: ['没有此人「{value}」：请先在站点配置的人员名单中列出', 'There is no person "{value}": list them under people in the site config'],
  no_duty: ['当前没有「{role}」的值班班次可调', 'Nobody is on duty as "{role}" now: there is no shift to swap'],
  swap_reason: ['请说明调班原因', 'Say why the shift is swapped'],
  explain_what: ['请填写主题和消息内容，或 Modbus 连接/从站号、地址和寄存器值', 'Give a topic and a payload, or a Modbus connection/unit, an address and values'],
  walk_period: ['走测的开始时间须早于结束时间', 'The walk\'s start must come before its end'],
};
for (const [code, pair] of Object.entries(R)) L[`refusal.${code}`] = pair;

export const REFUSAL_CODES = Object.keys(R);

/** The refusal in the page's language, or the server's English when the code is unknown. */
export function refusalText(data, status) {
  if (data && data.code && L[`refusal.${data.code}`]) {
    const vars = {};
    for (const [k, v] of Object.entries(data.params || {})) vars[k] = v && typeof v === 'object' ? (lang === 'en' ? v.en : v.zh) : v;
    return t(`refusal.${data.code}`, vars);
  }
  return data && data.error ? data.error : `HTTP ${status}`;
}
