/* Alarm gateway console: the monitoring room's page.
 *
 * Plain modern JavaScript, no framework and no build step. The page talks to the daemon's API
 * (/api/...) and stays live from its Server-Sent Events (/api/stream): it never polls. Every
 * text that comes from a device, a playbook or an operator is inserted as a text node (h() below
 * and textContent), never parsed as HTML. The Content-Security-Policy allows no inline script or
 * style, so all behaviour is here and all looks are in console.css.
 */
'use strict';

// ------------------------------------------------------------------------------------ texts

const L = {
  'app.title': ['报警集成网关', 'Alarm gateway'],
  'app.subtitle': ['监控中心值班台', 'Monitoring center console'],
  'lang.other': ['English', '中文'],
  'login.user': ['用户名', 'User name'],
  'login.password': ['密码', 'Password'],
  'login.submit': ['登录', 'Log in'],
  'login.busy': ['正在登录…', 'Logging in…'],
  'login.missing': ['请输入用户名和密码', 'Enter your user name and password'],
  'login.ended': ['会话已结束，请重新登录。', 'Your session has ended; log in again.'],
  'login.out': ['已退出。', 'You have logged out.'],
  'logout': ['退出', 'Log out'],
  'nav.board': ['看板', 'Board'],
  'nav.open': ['手动开事件', 'Open by hand'],
  'nav.points': ['点位', 'Points'],
  'nav.reports': ['报表', 'Reports'],
  'conn.up': ['实时', 'Live'],
  'conn.down': ['连接中断，正在重连…', 'Disconnected, reconnecting…'],
  'sound.mute': ['静音本次报警', 'Mute this alarm'],
  'sound.blocked': ['浏览器阻止了报警声音：点击此处启用。', 'The browser blocked the alarm sound: click here to enable it.'],
  'drill.banner': ['演练进行中，至 {until}，范围：{scope}。范围内信号的联动写入与外部通知均被拦截并记录；范围外的报警仍为真实报警。', 'Drill until {until}, scope: {scope}. Writes and notifications of the scope\'s signals are withheld and recorded; alarms outside it stay real.'],
  'drill.scope.none': ['无（仅自带演练标记的信号）', 'none (only signals marked as drill)'],
  'drill.scope.buildings': ['楼栋', 'buildings'],
  'drill.scope.points': ['点位（逗号分隔，可选）', 'points (comma-separated, optional)'],
  'drill.start': ['开始演练', 'Start drill'],
  'drill.end': ['结束演练', 'End drill'],
  'drill.minutes': ['演练时长（分钟）', 'Drill length (minutes)'],
  'drill.unit': ['分钟', 'min'],
  'drill.range': ['演练时长为 1–240 分钟的整数', 'a drill lasts a whole number of minutes, 1–240'],
  'drill.ends': ['结束于 {until}', 'ends {until}'],
  'role.operator': ['值班员', 'Operator'],
  'role.supervisor': ['主管', 'Supervisor'],
  'role.technician': ['技术员', 'Technician'],
  'role.tester': ['测试员', 'Tester'],
  'role.admin': ['管理员', 'Admin'],
  'sev.critical': ['危急', 'Critical'],
  'sev.high': ['高', 'High'],
  'sev.medium': ['中', 'Medium'],
  'sev.low': ['低', 'Low'],
  'status.open': ['未确认', 'Unacknowledged'],
  'status.acknowledged': ['处置中', 'Acknowledged'],
  'status.resolved': ['已处置', 'Resolved'],
  'status.closed': ['已关闭', 'Closed'],
  'verdict.real': ['真实警情', 'Real'],
  'verdict.minor': ['小事件（已控制）', 'Minor'],
  'verdict.false_alarm': ['误报', 'False alarm'],
  'drill': ['演练', 'DRILL'],
  'rtn.unacked': ['已恢复正常 · 未确认', 'Returned to normal · unacknowledged'],
  'rtn.acked': ['设备已恢复正常', 'Devices back to normal'],
  'place.site': ['全小区', 'Whole site'],
  'place.building': ['{v}号楼', 'Building {v}'],
  'place.floor': ['{v}层', 'Floor {v}'],
  'place.zone': ['防区 {v}', 'Zone {v}'],
  'place.unit': ['房号 {v}', 'Unit {v}'],
  'time.left': ['剩余 {t}', '{t} left'],
  'time.over': ['已超时 {t}', 'overdue {t}'],
  'time.ago': ['{t}前', '{t} ago'],
  'call.facts': ['通话要点', 'What to read out'],
  'time.never': ['从未上报', 'never'],
  'time.none': ['无', 'none'],
  'board.title': ['事件看板', 'Incident board'],
  'board.count': ['进行中 {n} 起', '{n} live'],
  'board.unacked': ['未确认 {n} 起', '{n} unacknowledged'],
  'board.empty': ['当前没有进行中的事件。', 'No live incidents.'],
  'board.empty.sub': ['新报警会立即出现在这里，并伴有闪烁和提示音。', 'A new alarm appears here at once, flashing, with an alarm sound.'],
  'col.incident': ['事件', 'Incident'],
  'col.place': ['位置', 'Place'],
  'col.status': ['状态', 'Status'],
  'col.stage': ['阶段', 'Stage'],
  'col.age': ['已持续', 'Age'],
  'col.deadline': ['下一时限', 'Next deadline'],
  'prompts.waiting': ['{n} 个提示待回答', '{n} prompts waiting'],
  'btn.ack': ['确认接警', 'Acknowledge'],
  'btn.confirm': ['核实属实', 'Confirm'],
  'btn.reject': ['误报…', 'False alarm…'],
  'btn.resolve': ['处置完毕…', 'Resolve…'],
  'btn.reopen': ['重新打开…', 'Reopen…'],
  'btn.assign': ['指定现场指挥…', 'Assign commander…'],
  'btn.submit': ['提交', 'Submit'],
  'btn.cancel': ['取消', 'Cancel'],
  'btn.save': ['保存', 'Save'],
  'btn.now': ['现在', 'Now'],
  'btn.done': ['完成', 'Done'],
  'btn.arrived': ['已到场', 'Arrived'],
  'btn.yes': ['是', 'Yes'],
  'btn.no': ['否', 'No'],
  'btn.yes.second': ['第二人确认：是', 'Second operator: yes'],
  'btn.addnote': ['添加备注', 'Add note'],
  'btn.close': ['提交复盘并关闭事件', 'Close with this review'],
  'btn.print': ['打印', 'Print'],
  'btn.refresh': ['刷新', 'Refresh'],
  'btn.back': ['← 返回看板', '← Board'],
  'btn.markdone': ['标记完成', 'Mark done'],
  'btn.open': ['开启事件', 'Open incident'],
  'btn.dismiss': ['关闭提示', 'Dismiss'],
  'reject.cause': ['误报原因（必填）', 'Cause of the false alarm (required)'],
  'resolve.note': ['处置说明（可选）', 'What was done (optional)'],
  'reopen.reason': ['重新打开的原因（必填）', 'Why it is reopened (required)'],
  'assign.name': ['现场指挥姓名', 'Commander\'s name'],
  'err.prefix': ['未执行：', 'Not done: '],
  'err.network': ['无法连接网关（网络或服务中断）', 'cannot reach the gateway (network or service down)'],
  'err.required': ['请填写此项', 'this is required'],
  'err.session': ['会话已结束', 'the session has ended'],
  'inc.opened': ['开启于', 'Opened'],
  'inc.age': ['已持续', 'Age'],
  'inc.next': ['下一时限', 'Next deadline'],
  'inc.commander': ['现场指挥', 'Commander'],
  'inc.acked': ['确认接警', 'Acknowledged'],
  'inc.resolved': ['处置完毕', 'Resolved'],
  'inc.closedby': ['关闭', 'Closed'],
  'inc.openedby': ['手动开启', 'Opened by hand'],
  'inc.devices': ['报警设备', 'Alarm devices'],
  'inc.report': ['事件报告', 'Incident report'],
  'inc.report.zh': ['报告（中文）', 'Report (中文)'],
  'inc.report.en': ['报告（English）', 'Report (English)'],
  'inc.notfound': ['找不到该事件。', 'No such incident.'],
  'inc.loading': ['正在加载…', 'Loading…'],
  'inc.readonly': ['你的角色只能查看此事件。', 'Your role may only view this incident.'],
  'sec.prompts': ['待回答提示', 'Prompts'],
  'sec.prompts.done': ['已处理的提示', 'Settled prompts'],
  'sec.branches': ['决策', 'Decisions'],
  'sec.steps': ['处置步骤', 'Checklist'],
  'sec.actions': ['自动联动', 'Auto-actions'],
  'sec.calls': ['外部电话', 'Outside calls'],
  'sec.statement': ['统一回复口径', 'Agreed public statement'],
  'sec.records': ['事件记录', 'Records'],
  'sec.notes': ['备注', 'Notes'],
  'sec.timeline': ['时间线', 'Timeline'],
  'sec.close': ['复盘并关闭', 'Review and close'],
  'sec.followups': ['回访任务', 'Follow-ups'],
  'sec.stages': ['阶段', 'Stages'],
  'prompt.policy.act': ['超时未答将自动执行', 'acts by itself when it times out'],
  'prompt.policy.escalate': ['超时未答将升级上报，并继续等待回答', 'escalates when it times out, then keeps waiting'],
  'prompt.policy.wait': ['超时仅记录，继续等待回答', 'recorded when it times out, keeps waiting'],
  'prompt.timeout': ['时限 {t}', 'timeout {t}'],
  'prompt.timedout': ['已超时，仍可回答', 'timed out: it may still be answered'],
  'prompt.onyes': ['回答“是”将执行：', 'On yes:'],
  'prompt.second': ['需两名值班员确认', 'needs two operators'],
  'prompt.waiting_second': ['{who} 已回答“是”，等待第二位值班员确认后才执行', 'Yes from {who}: waiting for a second operator before anything is done'],
  'prompt.you_first': ['你已回答“是”，需要另一位值班员确认', 'You said yes: another operator must confirm'],
  'prompt.answered': ['已回答：{a} — {who}，{at}', 'Answered {a} — {who}, {at}'],
  'prompt.answered2': ['已回答：{a} — {who}，第二确认人 {second}，{at}', 'Answered {a} — {who}, second {second}, {at}'],
  'prompt.acted': ['超时未答，已自动执行', 'Not answered in time: done by itself'],
  'call.dial': ['拨打', 'Call'],
  'call.read': ['通话时依次报出：', 'Read out:'],
  'call.status.open': ['待拨打', 'to call'],
  'call.status.done': ['已拨打', 'called'],
  'fact.project': ['项目名称', 'Project'],
  'fact.address': ['地址', 'Address'],
  'fact.crossroads': ['最近路口', 'Nearest crossroads'],
  'fact.where': ['位置', 'Where'],
  'fact.what': ['事件', 'What'],
  'fact.callback': ['回拨电话', 'Call-back number'],
  'fact.caller': ['报警人', 'Caller'],
  'branch.due': ['由 {role} 决定', 'for {role}'],
  'branch.decided': ['已决定：{label} — {who}', 'Decided: {label} — {who}'],
  'branch.bydevices': ['设备自动判定', 'the devices'],
  'step.role': ['负责', 'Role'],
  'step.done': ['{who} 完成于 {at}', 'done by {who} at {at}'],
  'step.overdue': ['已超时', 'overdue'],
  'step.note': ['备注（可选）', 'note (optional)'],
  'step.who': ['到场人员姓名', 'who is on scene'],
  'step.nodeadline': ['无时限', 'no deadline'],
  'action.status.pending': ['待发送', 'pending'],
  'action.status.sent': ['已发送，等待设备确认', 'sent, awaiting confirmation'],
  'action.status.done': ['已完成（设备确认）', 'done (confirmed)'],
  'action.status.withheld': ['演练拦截', 'withheld (drill)'],
  'action.status.failed': ['失败', 'failed'],
  'action.none': ['本事件暂无自动联动。', 'No auto-actions on this incident yet.'],
  'action.fromprompt': ['由提示「{p}」触发', 'from prompt "{p}"'],
  'action.sentonly': ['已发送（无反馈点）', 'sent (no feedback point)'],
  'record.required': ['必填', 'required'],
  'record.by': ['{who} · {at}', '{who} · {at}'],
  'record.missing': ['关闭前还需填写：{list}', 'Still needed to close: {list}'],
  'record.complete': ['关闭所需记录已全部填写。', 'Every record the close needs is filled.'],
  'record.none': ['此预案无需记录。', 'This playbook asks for no records.'],
  'yesno.choose': ['请选择', 'Choose'],
  'notes.placeholder': ['输入备注，例如现场反馈、来电内容…', 'A note: what the patrol reported, what a caller said…'],
  'notes.none': ['暂无备注。', 'No notes yet.'],
  'timeline.more': ['显示全部 {n} 条', 'Show all {n}'],
  'close.handling': ['处理经过', 'Handling'],
  'close.analysis': ['原因分析', 'Analysis'],
  'close.improvement': ['改善措施', 'Improvement'],
  'close.needsup': ['复盘与关闭由主管完成。', 'A supervisor writes the review and closes.'],
  'close.needack': ['先确认接警，才能关闭。', 'Acknowledge it first; then it can be closed.'],
  'close.closed': ['已于 {at} 由 {who} 关闭。', 'Closed by {who} at {at}.'],
  'followup.due': ['到期 {at}', 'due {at}'],
  'followup.note': ['回访结果（必填）', 'What the resident said (required)'],
  'followup.done': ['{who} 完成于 {at}：{note}', 'done by {who} at {at}: {note}'],
  'stmt.none': ['此阶段无统一口径。', 'No agreed statement for this stage.'],
  'open.title': ['手动开启事件', 'Open an incident by hand'],
  'open.sub': ['电话报警、对讲求助等没有设备信号的情况。', 'A phoned-in report, the elevator intercom: anything no device reported.'],
  'open.playbook': ['预案', 'Playbook'],
  'open.building': ['楼栋', 'Building'],
  'open.floor': ['楼层', 'Floor'],
  'open.zone': ['防区/区域', 'Zone / area'],
  'open.unit': ['房号', 'Unit'],
  'open.reporter': ['报告人（姓名、房号、电话）', 'Reporter (name, unit, phone)'],
  'open.note': ['情况说明', 'What was reported'],
  'open.drill': ['演练（联动与外部通知会被拦截）', 'Drill (actuator writes and notifications are withheld)'],
  'open.drillonly': ['你的角色只能开启演练事件。', 'Your role may open drill incidents only.'],
  'open.none': ['（不指定）', '(none)'],
  'open.choose': ['请选择预案', 'Choose a playbook'],
  'open.nomay': ['你的角色不能手动开启事件。', 'Your role may not open incidents.'],
  'points.title': ['点位状态', 'Points'],
  'points.sub': ['设备点位的当前状态、上次上报时间与离线告警。', 'Every point\'s state, when it last reported, and which are offline.'],
  'points.all': ['全部', 'All'],
  'points.building': ['楼栋', 'Building'],
  'points.kind': ['类型', 'Kind'],
  'points.state': ['状态', 'State'],
  'points.search': ['搜索编号或名称', 'Search id or name'],
  'points.count': ['共 {n} 个点位，离线 {off} 个', '{n} points, {off} offline'],
  'points.id': ['编号', 'Id'],
  'points.name': ['名称', 'Name'],
  'points.value': ['值', 'Value'],
  'points.lastseen': ['上次上报', 'Last seen'],
  'points.since': ['状态起始', 'State since'],
  'points.none': ['没有符合条件的点位。', 'No points match.'],
  'act.title': ['联动设备', 'Actuators'],
  'act.sub': ['电梯、阀门、广播等联动设备：可用指令、最近一次指令及反馈点状态。', 'Elevators, valves, PA and the like: their commands, the last command sent and the feedback points.'],
  'act.device': ['设备', 'Device'],
  'act.commands': ['指令', 'Commands'],
  'act.last': ['最近指令', 'Last command'],
  'act.feedback': ['反馈点', 'Feedback'],
  'act.none': ['未配置联动设备。', 'No actuators are configured.'],
  'act.nolast': ['尚无指令', 'none yet'],
  'act.nofeedback': ['无反馈点', 'no feedback point'],
  'akind.elevator': ['电梯', 'Elevator'],
  'akind.gas_valve': ['燃气阀', 'Gas valve'],
  'akind.water_valve': ['水阀', 'Water valve'],
  'akind.power_breaker': ['电源开关', 'Power breaker'],
  'akind.pa_system': ['广播系统', 'PA system'],
  'akind.sounder': ['声光报警器', 'Sounder'],
  'akind.generic': ['通用', 'Generic'],
  'dl.title': ['坏消息', 'Dead letters'],
  'dl.sub': ['无法解析或无法识别的设备消息（最近 {n} 条），原样保留以便排查。', 'Device messages that could not be decoded or placed (the last {n}), kept as received for fault-finding.'],
  'dl.at': ['时间', 'Time'],
  'dl.source': ['来源', 'Source'],
  'dl.topic': ['主题/地址', 'Topic / address'],
  'dl.reason': ['原因', 'Reason'],
  'dl.detail': ['详情', 'Detail'],
  'dl.size': ['字节', 'Bytes'],
  'dl.payload': ['内容', 'Payload'],
  'dl.none': ['没有坏消息。', 'No dead letters.'],
  'dl.reason.bad_json': ['JSON 格式错误', 'bad JSON'],
  'dl.reason.bad_encoding': ['编码错误', 'bad encoding'],
  'dl.reason.wrong_type': ['类型不符', 'wrong type'],
  'dl.reason.missing_field': ['缺少字段', 'missing field'],
  'dl.reason.unmapped_value': ['未映射的值', 'unmapped value'],
  'dl.reason.unknown_topic': ['未知主题', 'unknown topic'],
  'dl.reason.oversized': ['消息过大', 'oversized'],
  'dl.reason.bad_topic': ['主题无效', 'bad topic'],
  'dl.reason.short_read': ['读取不完整', 'short read'],
  'dl.reason.bad_value': ['数值无效', 'bad value'],
  'dl.reason.internal_error': ['内部错误', 'internal error'],
  'walk.title': ['巡检测试（走测）', 'Walk test'],
  'walk.sub': ['开始后逐个触发现场设备，这里列出开始以来上报过的点位。', 'Start, then trigger the devices on site one by one: the points that reported since the start are listed here.'],
  'walk.start': ['开始走测', 'Start walk test'],
  'walk.stop': ['结束走测', 'Stop walk test'],
  'walk.since': ['开始于 {at}，已进行 ', 'Started {at}, running for '],
  'walk.count': ['已上报 {n} 个点位', '{n} points reported'],
  'walk.none': ['尚无点位上报。', 'No point has reported yet.'],
  'walk.stopped': ['上次走测：{at} 起，共 {n} 个点位上报。', 'Last walk test: from {at}, {n} points reported.'],
  'walk.reports': ['上报次数', 'Reports'],
  'walk.nomay': ['走测需要技术员、测试员或管理员角色。', 'A walk test needs the technician, tester or admin role.'],
  'state.normal': ['正常', 'normal'],
  'state.prealarm': ['预警', 'pre-alarm'],
  'state.alarm': ['报警', 'alarm'],
  'state.trouble': ['故障', 'trouble'],
  'state.offline': ['离线', 'offline'],
  'state.warmup': ['预热中', 'warming up'],
  'points.chattering': ['频繁报警 {n} 次/分钟', 'chattering: {n} a minute'],
  'state.test': ['测试', 'test'],
  'state.unknown': ['未知', 'unknown'],
  'kind.fire_panel': ['消防主机', 'Fire panel'],
  'kind.smoke_detector': ['感烟探测器', 'Smoke detector'],
  'kind.heat_detector': ['感温探测器', 'Heat detector'],
  'kind.flame_detector': ['火焰探测器', 'Flame detector'],
  'kind.manual_call_point': ['手动报警按钮', 'Manual call point'],
  'kind.sprinkler_flow': ['水流指示器', 'Sprinkler flow'],
  'kind.gas_detector': ['燃气探测器', 'Gas detector'],
  'kind.water_leak': ['漏水感应器', 'Water-leak sensor'],
  'kind.elevator_alarm_button': ['电梯报警按钮', 'Elevator alarm button'],
  'kind.elevator_status': ['电梯状态', 'Elevator status'],
  'kind.valve_position': ['阀门位置', 'Valve position'],
  'kind.power_status': ['供电状态', 'Power status'],
  'kind.generator': ['发电机', 'Generator'],
  'kind.generic': ['通用', 'Generic'],
  'reports.title': ['报表', 'Reports'],
  'reports.kpi': ['运行指标', 'KPIs'],
  'reports.days': ['近 {n} 天', 'Last {n} days'],
  'reports.html': ['完整版（新标签页，可打印）', 'Full version (new tab, printable)'],
  'reports.incidents': ['实际事件', 'Real incidents'],
  'reports.false': ['误报', 'False alarms'],
  'reports.missed': ['超时项', 'Missed deadlines'],
  'reports.openend': ['期末未关闭', 'Open at the end'],
  'reports.drills': ['演练', 'Drills'],
  'reports.ack': ['接警确认用时', 'Time to acknowledge'],
  'reports.median': ['中位数', 'Median'],
  'reports.p90': ['90 分位', 'p90'],
  'reports.max': ['最长', 'Max'],
  'reports.unacked': ['未确认', 'Not acknowledged'],
  'reports.bytype': ['按类型', 'By type'],
  'reports.type': ['类型', 'Type'],
  'reports.total': ['总数', 'Total'],
  'reports.real': ['真实', 'Real'],
  'reports.minor': ['小事件', 'Minor'],
  'reports.undecided': ['未定', 'Undecided'],
  'reports.arrivals': ['到场用时（按角色）', 'Time to arrive on scene, per role'],
  'reports.role': ['角色', 'Role'],
  'reports.count': ['次数', 'Count'],
  'reports.ontime': ['按时率', 'On time'],
  'reports.devices': ['误报较多的设备', 'Devices with false alarms'],
  'reports.device': ['设备', 'Device'],
  'reports.rate': ['误报率', 'Rate'],
  'reports.maint': ['需维保', 'Maintenance'],
  'reports.tasks': ['回访任务', 'Follow-up tasks'],
  'reports.tasks.all': ['包括已完成', 'Include done'],
  'reports.tasks.none': ['没有待办回访任务。', 'No follow-ups due.'],
  'reports.task': ['任务', 'Task'],
  'reports.due': ['到期', 'Due'],
  'reports.incidentlist': ['事件报告', 'Incident reports'],
  'reports.incidentlist.none': ['暂无事件。', 'No incidents yet.'],
  'reports.nodata': ['无数据', 'no data'],
  'reports.yes': ['是', 'yes'],
  'reports.period': ['统计期间：{from} 至 {to}', 'Period: {from} to {to}'],
  'reports.open': ['打开', 'Open'],
  'ev.unknown': ['{kind}', '{kind}'],
};

let lang = localStorage.getItem('ag.lang') === 'en' ? 'en' : 'zh';

function t(key, vars) {
  const pair = L[key];
  let text = pair ? pair[lang === 'en' ? 1 : 0] : key;
  if (vars) {
    text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  }
  return text;
}

/** The current language's side of a {zh, en} text. */
function tx(text) {
  if (text == null) return '';
  if (typeof text === 'string') return text;
  return (lang === 'en' ? text.en : text.zh) || text.zh || text.en || '';
}

/** data[name_zh] / data[name_en]. */
function pick(data, name) {
  if (!data) return '';
  return data[`${name}_${lang}`] || data[`${name}_zh`] || data[`${name}_en`] || data[name] || '';
}

// ------------------------------------------------------------------------------------ DOM

/** Build an element. Children that are not nodes become text nodes: data is never HTML. */
function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'hidden'
               || key === 'selected') el[key] = value;
      else if (key.startsWith('on')) throw new Error(`no inline handlers: ${key}`);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false || kid === '') continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);

function button(label, cls, onclick, extra = {}) {
  return h('button', { type: 'button', class: `btn ${cls || ''}`.trim(), on: { click: onclick }, ...extra }, label);
}

function badge(text, cls) {
  return h('span', { class: `badge ${cls || ''}`.trim() }, text);
}

// ------------------------------------------------------------------------------------ time

let skew = 0; // server clock minus this browser's clock, seconds

function setSkew(serverNow) {
  if (typeof serverNow === 'number') skew = serverNow - Date.now() / 1000;
}

const now = () => Date.now() / 1000 + skew;

const pad = (n) => String(Math.floor(n)).padStart(2, '0');

/** 75 → "1:15", 3725 → "1:02:05", 2 days → "2天 3时" / "2d 3h". */
function clockSpan(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s >= 86400) {
    const d = Math.floor(s / 86400);
    const hrs = Math.floor((s % 86400) / 3600);
    return lang === 'en' ? `${d}d ${hrs}h` : `${d}天 ${hrs}时`;
  }
  const hrs = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return hrs ? `${hrs}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** 45 → "45 秒", 200 → "3 分 20 秒", for reports. */
function words(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return lang === 'en' ? `${s} s` : `${s} 秒`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    if (lang === 'en') return r ? `${m} min ${r} s` : `${m} min`;
    return r ? `${m} 分 ${r} 秒` : `${m} 分钟`;
  }
  const hrs = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return lang === 'en' ? `${hrs} h ${m} min` : `${hrs} 小时 ${m} 分`;
}

function fmtClock(epoch) {
  if (epoch == null) return '—';
  const d = new Date(epoch * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDate(epoch) {
  if (epoch == null) return '—';
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function fmtWhen(epoch) {
  if (epoch == null) return '—';
  const today = fmtDate(now());
  const day = fmtDate(epoch);
  return day === today ? fmtClock(epoch) : `${day} ${fmtClock(epoch)}`;
}

/** A live element: "remaining m:ss" counting down, red once passed. */
function dueEl(due, cls = '') {
  const el = h('span', { class: `due mono ${cls}`.trim(), dataset: { due: String(due) } });
  paintDue(el, now());
  return el;
}

function paintDue(el, at) {
  const due = Number(el.dataset.due);
  const left = due - at;
  const over = left < 0;
  el.textContent = over ? t('time.over', { t: clockSpan(-left) }) : t('time.left', { t: clockSpan(left) });
  el.classList.toggle('overdue', over);
  el.classList.toggle('soon', !over && left < 60);
}

function ageEl(since, cls = '') {
  const el = h('span', { class: `age mono ${cls}`.trim(), dataset: { age: String(since) } });
  el.textContent = clockSpan(now() - since);
  return el;
}

/** 8 → "8 秒前", 200 → "3 分钟前", 7300 → "2 小时前". */
function agoText(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 3) return lang === 'en' ? 'just now' : '刚刚';
  let span;
  if (s < 60) span = lang === 'en' ? `${s} s` : `${s} 秒`;
  else if (s < 3600) span = lang === 'en' ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} 分钟`;
  else if (s < 86400) span = lang === 'en' ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 3600)} 小时`;
  else span = lang === 'en' ? `${Math.floor(s / 86400)} d` : `${Math.floor(s / 86400)} 天`;
  return t('time.ago', { t: span });
}

function agoEl(since) {
  if (since == null) return h('span', { class: 'ago muted' }, t('time.never'));
  const el = h('span', { class: 'ago', dataset: { ago: String(since) }, title: fmtWhen(since) });
  el.textContent = agoText(now() - since);
  return el;
}

function tick() {
  const at = now();
  for (const el of document.querySelectorAll('[data-due]')) paintDue(el, at);
  for (const el of document.querySelectorAll('[data-age]')) el.textContent = clockSpan(at - Number(el.dataset.age));
  for (const el of document.querySelectorAll('[data-ago]')) el.textContent = agoText(at - Number(el.dataset.ago));
  const clock = $('#clock');
  if (clock) clock.textContent = `${fmtDate(at)} ${fmtClock(at)}`;
  renderBanners();
}

// ------------------------------------------------------------------------------------ state

const state = {
  me: null, // {name, display, roles, may}
  site: null, // GET /api/site
  incidents: new Map(), // id → board summary
  drillUntil: 0,
  drill: null, // the window: until, buildings, points, by
  connected: false,
  detail: null, // GET /api/incidents/{id} of the incident on screen
  detailId: null,
  route: { name: 'board', arg: '' },
  loaded: false, // the board has been loaded since the stream (re)connected
};

const drafts = new Map(); // input key → what the operator typed (kept across re-renders)
const errors = new Map(); // action key → message shown beside it until retried or dismissed
const ui = { open: new Map() }; // which inline forms are open, per incident: "id:verb" → true

const may = (permission) => Boolean(state.me && state.me.may.includes(permission));
const hasRole = (role) => Boolean(state.me && state.me.roles.includes(role));
const mayWork = (inc) => may('work') || (inc.drill && hasRole('tester'));
const mayClose = (inc) => may('close') || (inc.drill && hasRole('tester'));

function roleName(role) {
  if (!role) return '';
  const known = state.site && state.site.roles[role];
  return known ? tx(known) : role;
}

function place(loc) {
  if (!loc) return '';
  const parts = [];
  if (loc.building) parts.push(t('place.building', { v: loc.building }));
  if (loc.floor) parts.push(t('place.floor', { v: loc.floor }));
  if (loc.zone) parts.push(t('place.zone', { v: loc.zone }));
  if (loc.unit) parts.push(t('place.unit', { v: loc.unit }));
  return parts.length ? parts.join(' · ') : t('place.site');
}

/** Every place in alarm of an incident (a fire spreading over floors), or its own place. */
function places(inc) {
  const list = inc.places && inc.places.length ? inc.places : [inc.location];
  return list.map(place).join(Z() ? '；' : '; ');
}

function sevBadge(sev) {
  return badge(t(`sev.${sev}`), `sev sev-${sev}`);
}

function statusBadge(status) {
  return badge(t(`status.${status}`), `status status-${status}`);
}

// ------------------------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(t('err.network'), 0);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401 && path !== '/api/login') {
    sessionEnded();
    throw new ApiError((data && data.error) || t('err.session'), 401);
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : `HTTP ${response.status}`;
    throw new ApiError(message, response.status);
  }
  if (data && typeof data.now === 'number') setSkew(data.now);
  return data;
}

const incidentPath = (id, verb) => `/api/incidents/${encodeURIComponent(id)}${verb ? `/${verb.replace('_', '-')}` : ''}`;

/** Run an action: the button is busy meanwhile, an error stays shown beside it. */
async function act(key, btn, fn) {
  errors.delete(key);
  paintErrors(key);
  const buttons = btn ? [btn] : [];
  for (const b of buttons) { b.disabled = true; b.classList.add('busy'); }
  try {
    const result = await fn();
    return result;
  } catch (err) {
    if (err.status !== 401) {
      errors.set(key, err.message || String(err));
      paintErrors(key);
    }
    return undefined;
  } finally {
    for (const b of buttons) { b.disabled = false; b.classList.remove('busy'); }
  }
}

/** The place where an action's error shows (rendered again with the error after a refresh). */
function errBox(key) {
  const el = h('div', { class: 'err', role: 'alert', dataset: { errfor: key } });
  fillErr(el, key);
  return el;
}

function fillErr(el, key) {
  const message = errors.get(key);
  el.replaceChildren();
  el.hidden = !message;
  if (message) {
    add(el, [h('span', { class: 'err-text' }, t('err.prefix'), message),
      button('×', 'btn-ghost btn-x', () => { errors.delete(key); paintErrors(key); },
        { title: t('btn.dismiss'), 'aria-label': t('btn.dismiss') })]);
  }
}

function paintErrors(key) {
  for (const el of document.querySelectorAll('[data-errfor]')) {
    if (el.dataset.errfor === key) fillErr(el, key);
  }
}

// --------------------------------------------------------------------------- form inputs

/** An input whose value survives re-rendering while the operator types. */
function field(key, props = {}, initial = '') {
  const tag = props.tag || 'input';
  const attrs = { ...props };
  delete attrs.tag;
  const el = h(tag, { ...attrs, dataset: { key, ...(attrs.dataset || {}) } });
  const value = drafts.has(key) ? drafts.get(key) : initial;
  if (tag === 'select') {
    // options are appended by the caller; value set after
    queueMicrotask(() => { el.value = value; });
  } else if (props.type === 'checkbox') {
    el.checked = drafts.has(key) ? drafts.get(key) === true : Boolean(initial);
  } else {
    el.value = value == null ? '' : String(value);
  }
  return el;
}

function clearDrafts(...keys) {
  for (const key of keys) drafts.delete(key);
}

document.addEventListener('input', (e) => {
  const el = e.target;
  if (el && el.dataset && el.dataset.key) {
    drafts.set(el.dataset.key, el.type === 'checkbox' ? el.checked : el.value);
  }
});
document.addEventListener('change', (e) => {
  const el = e.target;
  if (el && el.dataset && el.dataset.key) {
    drafts.set(el.dataset.key, el.type === 'checkbox' ? el.checked : el.value);
  }
});

function draftValue(key) {
  const v = drafts.get(key);
  return typeof v === 'string' ? v.trim() : v;
}

/** Replace a container's content keeping the focused input and its caret. */
function rerender(container, build) {
  const active = document.activeElement;
  const key = active && active.dataset ? active.dataset.key : null;
  let selection = null;
  if (key && typeof active.selectionStart === 'number') {
    try { selection = [active.selectionStart, active.selectionEnd]; } catch { selection = null; }
  }
  const nodes = build();
  container.replaceChildren(...[nodes].flat(Infinity).filter((x) => x != null && x !== false));
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) {
      again.focus({ preventScroll: true });
      if (selection) {
        try { again.setSelectionRange(selection[0], selection[1]); } catch { /* not a text input */ }
      }
    }
  }
}

// ------------------------------------------------------------------------------------ alarm sound

const sound = {
  ctx: null,
  timer: null,
  muted: new Set(), // incidents whose sound was muted (for this alarm only)
  pattern: null,
};

function audioContext() {
  if (!sound.ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    sound.ctx = new Ctx();
  }
  if (sound.ctx.state === 'suspended') sound.ctx.resume().catch(() => {});
  return sound.ctx;
}

/** A short beep: square wave with a soft envelope. */
function beep(ctx, at, freq, length) {
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = 'square';
  osc.frequency.setValueAtTime(freq, at);
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.18, at + 0.015);
  gain.gain.setValueAtTime(0.18, at + length - 0.03);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
  osc.connect(gain).connect(ctx.destination);
  osc.start(at);
  osc.stop(at + length + 0.02);
}

const PATTERNS = {
  // critical / high: three fast high beeps every 1.6 s; medium / low: two lower beeps every 3 s
  urgent: { period: 1600, beeps: [[0, 1046, 0.16], [0.24, 1046, 0.16], [0.48, 1318, 0.22]] },
  normal: { period: 3000, beeps: [[0, 784, 0.2], [0.35, 659, 0.25]] },
};

function playPattern(name) {
  const ctx = audioContext();
  if (!ctx || ctx.state !== 'running') return;
  const start = ctx.currentTime + 0.02;
  for (const [offset, freq, length] of PATTERNS[name].beeps) beep(ctx, start + offset, freq, length);
}

/** Unacknowledged incidents sound until acknowledged or muted; the state shows on <body>. */
function updateAlarm() {
  const unacked = [...state.incidents.values()].filter((i) => i.status === 'open');
  for (const id of [...sound.muted]) {
    if (!unacked.some((i) => i.id === id)) sound.muted.delete(id);
  }
  const audible = may('work') ? unacked.filter((i) => !sound.muted.has(i.id)) : [];
  const pattern = audible.length === 0 ? null
    : (audible.some((i) => i.severity === 'critical' || i.severity === 'high') ? 'urgent' : 'normal');
  if (pattern !== sound.pattern) {
    clearInterval(sound.timer);
    sound.timer = null;
    sound.pattern = pattern;
    if (pattern) {
      playPattern(pattern);
      sound.timer = setInterval(() => playPattern(pattern), PATTERNS[pattern].period);
    }
  }
  let mode = 'off';
  if (pattern) mode = sound.ctx && sound.ctx.state === 'running' ? 'playing' : 'blocked';
  else if (unacked.length && may('work')) mode = 'muted';
  document.body.dataset.sound = mode;
  const mute = $('#mute');
  if (mute) {
    mute.hidden = !pattern;
    mute.textContent = t('sound.mute');
  }
  document.title = (unacked.length ? `(${unacked.length}) ` : '') + `${t('app.title')} · ${t('app.subtitle')}`;
  renderBanners();
}

function muteCurrent() {
  for (const inc of state.incidents.values()) if (inc.status === 'open') sound.muted.add(inc.id);
  updateAlarm();
}

// the browser lets sound start only after a gesture: any click or key unlocks it
function unlockAudio() {
  const ctx = audioContext();
  if (ctx && ctx.state !== 'running') {
    ctx.resume().then(() => { sound.pattern = null; updateAlarm(); }).catch(() => {});
  }
}
document.addEventListener('pointerdown', unlockAudio, true);
document.addEventListener('keydown', unlockAudio, true);

// ------------------------------------------------------------------------------------ banners

function renderBanners() {
  const box = $('#banners');
  if (!box || !state.me) return;
  const items = [];
  if (!state.connected) items.push(h('div', { class: 'banner banner-warn' }, t('conn.down')));
  if (document.body.dataset.sound === 'blocked') {
    items.push(h('button', { type: 'button', class: 'banner banner-alarm banner-click', on: { click: unlockAudio } },
      t('sound.blocked')));
  }
  if (drillOn()) items.push(drillBanner());
  // the drill banner's countdown is painted by tick(): its signature leaves the seconds out
  const signature = items.map((i) => i.dataset.sig || i.className + i.textContent).join('|');
  if (box.dataset.sig !== signature) {
    box.dataset.sig = signature;
    box.replaceChildren(...items);
  }
  renderDrillControl();
}

// ------------------------------------------------------------------------------------ drill window

const drillOn = () => Boolean(state.drillUntil && state.drillUntil > now());

/** What the drill window covers, in words: its buildings and points. */
function drillScope() {
  const w = state.drill || {};
  const parts = [];
  if (w.buildings && w.buildings.length) parts.push(w.buildings.map((b) => t('place.building', { v: b })).join('、'));
  if (w.points && w.points.length) parts.push(w.points.slice(0, 5).join(', ') + (w.points.length > 5 ? ` +${w.points.length - 5}` : ''));
  return parts.length ? parts.join(Z() ? '；' : '; ') : t('drill.scope.none');
}

function setDrill(window) {
  state.drill = window && window.until ? window : null;
  state.drillUntil = state.drill ? state.drill.until : 0;
}

function drillBanner() {
  const mine = may('drill');
  return h('div', { class: 'banner banner-drill', id: 'drill-banner', role: 'status',
    dataset: { sig: `drill:${state.drillUntil}:${lang}:${mine}:${drillScope()}` } },
  h('div', { class: 'drill-banner-row' },
    h('span', { class: 'drill-mark', 'aria-hidden': 'true' }, t('drill')),
    h('span', { class: 'drill-banner-text' }, t('drill.banner', { until: fmtWhen(state.drillUntil), scope: drillScope() })),
    dueEl(state.drillUntil, 'drill-left'),
    mine ? button(t('drill.end'), 'btn-warn btn-small', endDrill, { dataset: { action: 'drill-end' } }) : null),
  mine ? errBox('drill') : null);
}

/** The header's "start a drill" form, for the roles that may; hidden while a window is on. */
function renderDrillControl() {
  const box = $('#drill-ctl');
  if (!box) return;
  const show = Boolean(state.me) && may('drill') && !drillOn();
  const signature = show ? `on:${lang}` : 'off';
  if (box.dataset.sig === signature) return;
  box.dataset.sig = signature;
  box.hidden = !show;
  if (!show) { box.replaceChildren(); return; }
  const minutes = field('drill:minutes', { type: 'number', class: 'input drill-minutes', id: 'drill-minutes',
    min: '1', max: '240', step: '1', inputmode: 'numeric', 'aria-label': t('drill.minutes'), title: t('drill.minutes') }, '30');
  const buildings = ((state.site && state.site.buildings) || []).map((b) => h('label', { class: 'drill-building small' },
    field(`drill:b:${b}`, { type: 'checkbox', name: 'drill-building', value: b }), t('place.building', { v: b })));
  const points = field('drill:points', { type: 'text', class: 'input drill-points', id: 'drill-points',
    placeholder: t('drill.scope.points'), 'aria-label': t('drill.scope.points'), maxlength: '2000' }, '');
  const form = h('form', { class: 'drill-form', novalidate: true, on: { submit: startDrill } },
    minutes, h('span', { class: 'muted small' }, t('drill.unit')),
    h('span', { class: 'drill-scope', title: t('drill.scope.buildings') }, buildings), points,
    h('button', { type: 'submit', class: 'btn btn-drill btn-small', dataset: { action: 'drill-start' } }, t('drill.start')));
  box.replaceChildren(form, errBox('drill'));
}

async function refreshDrill() {
  const site = await api('GET', '/api/site');
  state.site = site;
  setDrill(site.drill);
  renderBanners();
}

async function startDrill(e) {
  e.preventDefault();
  const input = $('#drill-minutes');
  const raw = input ? input.value.trim() : '30';
  const minutes = Number(raw);
  if (!raw || !Number.isInteger(minutes) || minutes < 1 || minutes > 240) {
    errors.set('drill', t('drill.range'));
    paintErrors('drill');
    if (input) input.focus();
    return;
  }
  const form = e.currentTarget;
  const btn = form.querySelector('button[type=submit]');
  const done = await act('drill', btn, async () => {
    const buildings = [...form.querySelectorAll('input[name=drill-building]:checked')].map((x) => x.value);
    const typed = $('#drill-points');
    const points = typed ? typed.value.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean) : [];
    await api('POST', '/api/drill', { minutes, buildings, points });
    await refreshDrill();
    return true;
  });
  if (done) clearDrafts('drill:minutes');
}

async function endDrill(e) {
  await act('drill', e.currentTarget, async () => {
    await api('DELETE', '/api/drill');
    await refreshDrill();
  });
}

function setConnected(up) {
  state.connected = up;
  const conn = $('#conn');
  if (conn) {
    conn.dataset.state = up ? 'up' : 'down';
    $('#conn-text').textContent = up ? t('conn.up') : t('conn.down');
  }
  renderBanners();
}

// ------------------------------------------------------------------------------------ session

async function boot() {
  applyStaticTexts();
  document.body.classList.remove('booting');
  for (const el of document.querySelectorAll('.lang-toggle')) el.addEventListener('click', switchLang);
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', logout);
  $('#mute').addEventListener('click', muteCurrent);
  window.addEventListener('hashchange', route);
  setInterval(tick, 1000);
  // one flash phase for the whole page: re-rendered rows keep flashing in step
  setInterval(() => document.body.classList.toggle('blink'), 500);
  try {
    const me = await api('GET', '/api/me');
    await start(me.user);
  } catch {
    showLogin('');
  }
}

function applyStaticTexts() {
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('#login-user').placeholder = t('login.user');
  if (state.site) $('#site-name').textContent = tx(state.site.name);
}

function switchLang() {
  lang = lang === 'en' ? 'zh' : 'en';
  localStorage.setItem('ag.lang', lang);
  applyStaticTexts();
  if (state.me) {
    renderHeader();
    setConnected(state.connected);
    updateAlarm();
    render();
  }
}

function showLogin(reason) {
  $('#app').hidden = true;
  $('#login-screen').hidden = false;
  const note = $('#login-reason');
  note.hidden = !reason;
  note.textContent = reason || '';
  $('#login-error').hidden = true;
  $('#login-password').value = '';
  $('#login-user').focus();
}

async function login(e) {
  e.preventDefault();
  audioContext(); // created inside the gesture, so the alarm can sound later
  const username = $('#login-user').value.trim();
  const password = $('#login-password').value;
  const error = $('#login-error');
  if (!username || !password) {
    error.textContent = t('login.missing');
    error.hidden = false;
    return;
  }
  const submit = $('#login-submit');
  submit.disabled = true;
  submit.textContent = t('login.busy');
  try {
    const result = await api('POST', '/api/login', { username, password });
    error.hidden = true;
    $('#login-password').value = '';
    await start(result.user);
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    submit.disabled = false;
    submit.textContent = t('login.submit');
  }
}

async function logout() {
  try { await api('POST', '/api/logout', {}); } catch { /* ended anyway */ }
  stop();
  showLogin(t('login.out'));
}

let ending = false;

function sessionEnded() {
  if (!state.me || ending) return;
  ending = true;
  stop();
  showLogin(t('login.ended'));
  ending = false;
}

function stop() {
  if (stream) { stream.close(); stream = null; }
  clearTimeout(reconnectTimer);
  state.me = null;
  state.site = null;
  state.incidents.clear();
  state.loaded = false;
  state.connected = false;
  state.detail = null;
  state.detailId = null;
  drafts.clear();
  errors.clear();
  walk.active = false;
  sound.muted.clear();
  clearInterval(sound.timer);
  sound.timer = null;
  sound.pattern = null;
  document.body.dataset.sound = 'off';
  document.title = `${t('app.title')} · ${t('app.subtitle')}`;
}

async function start(user) {
  state.me = user;
  state.site = await api('GET', '/api/site');
  setDrill(state.site.drill);
  $('#login-screen').hidden = true;
  $('#app').hidden = false;
  applyStaticTexts();
  renderHeader();
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    const home = hasRole('technician') && !may('work') ? '#/points' : '#/board';
    history.replaceState(null, '', home);
  }
  restoreWalk();
  tick();
  route();
  connectStream(); // its hello loads the board: nothing between the load and the stream is missed
}

function renderHeader() {
  const me = state.me;
  const roles = me.roles.map((r) => t(`role.${r}`)).join('、');
  $('#who').replaceChildren(h('span', { class: 'who-name' }, me.display || me.name),
    h('span', { class: 'who-role' }, roles));
  const nav = $('#nav');
  const items = [['board', t('nav.board')]];
  if (may('open') || may('drill')) items.push(['open', t('nav.open')]);
  items.push(['points', t('nav.points')], ['reports', t('nav.reports')]);
  nav.replaceChildren(...items.map(([name, label]) => {
    const link = h('a', { href: `#/${name}`, class: 'nav-link', dataset: { view: name } }, label);
    if (name === 'board') link.append(h('span', { class: 'nav-count', id: 'nav-unacked', hidden: true }));
    return link;
  }));
  markNav();
  updateNavCount();
}

function markNav() {
  const current = state.route.name === 'incident' ? 'board' : state.route.name;
  for (const link of document.querySelectorAll('.nav-link')) {
    link.classList.toggle('active', link.dataset.view === current);
  }
}

function updateNavCount() {
  const el = $('#nav-unacked');
  if (!el) return;
  const n = [...state.incidents.values()].filter((i) => i.status === 'open').length;
  el.hidden = n === 0;
  el.textContent = String(n);
}

// ------------------------------------------------------------------------------------ stream

let stream = null;
let reconnectTimer = null;

function connectStream() {
  if (stream) stream.close();
  const source = new EventSource('/api/stream');
  stream = source;
  source.addEventListener('hello', (e) => {
    const data = JSON.parse(e.data);
    setSkew(data.now);
    setDrill(data.drill);
    setConnected(true);
    // (re)connected: what happened while away is reloaded, never assumed
    reloadAll();
  });
  source.addEventListener('incident', (e) => onIncident(JSON.parse(e.data)));
  source.addEventListener('event', (e) => onEvent(JSON.parse(e.data)));
  source.addEventListener('point', (e) => onPoint(JSON.parse(e.data)));
  source.addEventListener('drill', (e) => {
    setDrill(JSON.parse(e.data));
    renderBanners();
  });
  source.addEventListener('error', () => {
    if (stream !== source) return;
    setConnected(false);
    if (source.readyState === EventSource.CLOSED) {
      // refused (the session ended?) or gone: check the session, then connect again
      stream = null;
      source.close();
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(async () => {
        try {
          await api('GET', '/api/me');
          if (state.me) connectStream();
        } catch (err) {
          if (err.status !== 401 && state.me) connectStream();
        }
      }, 2000);
    }
  });
}

async function reloadAll() {
  try {
    await loadIncidents();
  } catch {
    return; // a 401 sends the page to the login; anything else: the next hello retries
  }
  if (state.route.name === 'incident') refreshDetail();
  if (state.route.name === 'points') {
    loadPoints().catch(() => {});
    loadExtras();
  }
  if (state.route.name === 'reports') loadReportIncidents();
  if (walk.active) loadWalkSince();
}

async function loadIncidents() {
  const data = await api('GET', '/api/incidents?status=live');
  const fresh = new Map();
  for (const inc of data.incidents) {
    const known = state.incidents.get(inc.id);
    fresh.set(inc.id, known && known.updated_at > inc.updated_at ? known : inc);
  }
  state.incidents = fresh;
  state.loaded = true;
  boardChanged();
}

function onIncident(summary) {
  const known = state.incidents.get(summary.id);
  if (known && known.updated_at > summary.updated_at) return;
  if (summary.status === 'closed') state.incidents.delete(summary.id);
  else state.incidents.set(summary.id, summary);
  boardChanged();
  if (state.route.name === 'incident' && state.detailId === summary.id) scheduleDetail();
}

function onEvent(event) {
  if (state.route.name === 'incident' && state.detailId === event.incident_id) scheduleDetail();
}

function boardChanged() {
  updateAlarm();
  updateNavCount();
  // render at once: a new alarm must not wait
  if (state.route.name === 'board') renderBoard();
}

// ------------------------------------------------------------------------------------ routing

function route() {
  if (!state.me) return;
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  const arg = decodeURIComponent(rest.join('/'));
  const known = ['board', 'incident', 'open', 'points', 'reports'];
  state.route = { name: known.includes(name) ? name : 'board', arg };
  if (state.route.name !== 'incident') { state.detail = null; state.detailId = null; }
  markNav();
  render(true);
  window.scrollTo(0, 0);
}

function render(entering = false) {
  const view = $('#view');
  view.dataset.view = state.route.name;
  switch (state.route.name) {
    case 'incident': renderIncidentRoute(entering); break;
    case 'open': renderOpen(); break;
    case 'points': renderPoints(entering); break;
    case 'reports': renderReports(entering); break;
    default: renderBoard();
  }
}

// ------------------------------------------------------------------------------------ board

function sortedIncidents() {
  return [...state.incidents.values()].sort((a, b) => (a.severity_rank - b.severity_rank)
    || (b.opened_at - a.opened_at));
}

function renderBoard() {
  const view = $('#view');
  const list = sortedIncidents();
  const unacked = list.filter((i) => i.status === 'open').length;
  if (!state.loaded) {
    view.replaceChildren(h('p', { class: 'muted pad' }, t('inc.loading')));
    return;
  }
  const head = h('div', { class: 'view-head' },
    h('h1', {}, t('board.title')),
    h('div', { class: 'view-head-meta' },
      unacked ? badge(t('board.unacked', { n: unacked }), 'badge-alarm') : null,
      badge(t('board.count', { n: list.length }), 'badge-quiet')));
  if (!list.length) {
    view.replaceChildren(head, h('div', { class: 'empty-board' },
      h('div', { class: 'empty-mark', 'aria-hidden': 'true' }),
      h('p', { class: 'empty-title' }, t('board.empty')),
      h('p', { class: 'muted' }, t('board.empty.sub'))));
    return;
  }
  const header = h('div', { class: 'board-row board-header', role: 'row' },
    h('span', {}), h('span', {}, t('col.incident')), h('span', {}, t('col.place')),
    h('span', {}, t('col.status')), h('span', {}, t('col.stage')), h('span', {}, t('col.age')),
    h('span', {}, t('col.deadline')), h('span', {}));
  const rows = list.map(boardRow);
  rerender(view, () => [head, h('div', { class: 'board', role: 'table' }, header, rows)]);
}

function boardRow(inc) {
  const open = () => { location.hash = `#/incident/${encodeURIComponent(inc.id)}`; };
  const key = `${inc.id}:ack`;
  const quick = inc.status === 'open' && mayWork(inc)
    ? button(t('btn.ack'), 'btn-primary btn-ack', (e) => {
      e.stopPropagation();
      act(key, e.currentTarget, () => command(inc.id, 'ack', {}));
    }, { dataset: { action: 'ack' } })
    : null;
  const classes = ['board-row', 'incident-row', `sev-${inc.severity}`, `st-${inc.status}`];
  if (inc.status === 'open') classes.push('flash');
  if (inc.drill) classes.push('is-drill');
  return h('div', {
    class: classes.join(' '), role: 'row', tabindex: '0',
    dataset: { id: inc.id, status: inc.status },
    on: {
      click: open,
      keydown: (e) => { if (e.key === 'Enter') open(); },
    },
  },
  h('span', { class: 'sev-bar', 'aria-hidden': 'true' }),
  h('span', { class: 'cell-name' },
    h('span', { class: 'inc-name' }, tx(inc.name)),
    h('span', { class: 'inc-sub' },
      h('span', { class: 'inc-id mono' }, inc.id), sevBadge(inc.severity),
      inc.drill ? badge(t('drill'), 'badge-drill') : null,
      inc.returned_to_normal ? badge(inc.status === 'open' ? t('rtn.unacked') : t('rtn.acked'),
        inc.status === 'open' ? 'badge-rtn' : 'badge-quiet') : null)),
  h('span', { class: 'cell-place' }, places(inc)),
  h('span', { class: 'cell-status' }, statusBadge(inc.status),
    inc.open_prompts ? h('span', { class: 'prompt-count' }, t('prompts.waiting', { n: inc.open_prompts })) : null),
  h('span', { class: 'cell-stage' }, tx(inc.stage_name) || inc.stage),
  h('span', { class: 'cell-age' }, ageEl(inc.opened_at)),
  h('span', { class: 'cell-due' }, inc.next_deadline ? dueEl(inc.next_deadline) : h('span', { class: 'muted' }, '—')),
  h('span', { class: 'cell-actions' }, quick, quick ? errBox(key) : null));
}

async function command(id, verb, body) {
  const result = await api('POST', incidentPath(id, verb), body);
  if (state.detailId === id) scheduleDetail(0);
  return result;
}

// ------------------------------------------------------------------------------------ incident

let detailTimer = null;
let detailBusy = false;
let detailAgain = false;

function scheduleDetail(delay = 120) {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(refreshDetail, delay);
}

async function refreshDetail() {
  const id = state.detailId;
  if (!id) return;
  if (detailBusy) { detailAgain = true; return; }
  detailBusy = true;
  try {
    const data = await api('GET', incidentPath(id));
    if (state.detailId === id) {
      state.detail = data;
      renderIncident();
    }
  } catch (err) {
    if (state.detailId === id && err.status === 404) {
      state.detail = { missing: true, error: err.message };
      renderIncident();
    }
  } finally {
    detailBusy = false;
    if (detailAgain) { detailAgain = false; scheduleDetail(0); }
  }
}

function renderIncidentRoute(entering) {
  const id = state.route.arg;
  if (entering || state.detailId !== id) {
    state.detailId = id;
    state.detail = null;
    $('#view').replaceChildren(h('p', { class: 'muted pad' }, t('inc.loading')));
    refreshDetail();
  } else {
    renderIncident();
  }
}

function renderIncident() {
  const view = $('#view');
  const d = state.detail;
  if (!d) return;
  if (d.missing) {
    view.replaceChildren(h('div', { class: 'pad' }, button(t('btn.back'), 'btn-ghost', () => { location.hash = '#/board'; }),
      h('p', { class: 'err' }, t('inc.notfound'), ' ', d.error || '')));
    return;
  }
  rerender(view, () => incidentView(d));
}

function names(d) {
  const pb = d.playbook || {};
  const actuators = {};
  for (const e of d.events) {
    if (e.kind === 'action_requested') actuators[e.data.actuator] = { zh: e.data.actuator_zh, en: e.data.actuator_en };
  }
  return {
    step: (id) => (pb.steps && pb.steps[id] ? tx(pb.steps[id].text) : id),
    prompt: (id) => (pb.prompts && pb.prompts[id] ? tx(pb.prompts[id].text) : id),
    branch: (id) => (pb.branches && pb.branches[id] ? tx(pb.branches[id].question) : id),
    stage: (id) => {
      const s = (pb.stages || []).find((x) => x.id === id);
      return s ? tx(s.name) : id;
    },
    option: (branch, option) => {
      const def = pb.branches && pb.branches[branch];
      const o = def ? def.options.find((x) => x.id === option) : null;
      return o ? tx(o.label) : option;
    },
    action: (id) => (pb.actions && pb.actions[id] ? tx(pb.actions[id]) : id),
    actuator: (id) => (actuators[id] ? tx(actuators[id]) : id),
    record: (id) => {
      const r = (pb.records || []).find((x) => x.id === id);
      return r ? tx(r.label) : id;
    },
  };
}

function incidentView(d) {
  const inc = d.incident;
  const n = names(d);
  const live = inc.status === 'open' || inc.status === 'acknowledged';
  const workable = inc.status !== 'closed' && mayWork(inc);
  const left = [
    promptsCard(d, n, workable),
    branchesCard(d, n, workable && live),
    stepsCard(d, n, workable),
    actionsCard(d, n),
  ];
  const right = [
    statementCard(d),
    callsCard(d),
    recordsCard(d, workable),
    notesCard(d),
    devicesCard(d),
  ];
  return [
    incidentHeader(d, n),
    h('div', { class: 'incident-grid' },
      h('div', { class: 'col-main' }, left),
      h('div', { class: 'col-side' }, right)),
    closeCard(d),
    followUpsCard(d),
    timelineCard(d, n),
  ];
}

function incidentHeader(d) {
  const inc = d.incident;
  const id = inc.id;
  const live = inc.status === 'open' || inc.status === 'acknowledged';
  const anyBranchOpen = (inc.branches || []).some((b) => b.status === 'open');
  const buttons = [];
  const forms = [];
  if (inc.status === 'open' && mayWork(inc)) {
    buttons.push(button(t('btn.ack'), 'btn-primary btn-lg', (e) => act(`${id}:ack`, e.currentTarget,
      () => command(id, 'ack', {})), { dataset: { action: 'ack' } }));
  }
  if (live && anyBranchOpen && mayWork(inc)) {
    buttons.push(button(t('btn.confirm'), 'btn-danger btn-lg', (e) => act(`${id}:confirm`, e.currentTarget,
      () => command(id, 'confirm', {})), { dataset: { action: 'confirm' } }));
    buttons.push(toggleButton(id, 'reject', t('btn.reject'), 'btn-ghost btn-lg'));
  }
  if (inc.status === 'acknowledged' && mayWork(inc)) buttons.push(toggleButton(id, 'resolve', t('btn.resolve'), 'btn-ok btn-lg'));
  if ((inc.status === 'resolved' || inc.status === 'closed') && mayClose(inc)) {
    buttons.push(toggleButton(id, 'reopen', t('btn.reopen'), 'btn-ghost btn-lg'));
  }
  if (inc.status !== 'closed' && mayClose(inc)) buttons.push(toggleButton(id, 'assign', t('btn.assign'), 'btn-ghost btn-lg'));

  const inline = [
    ['reject', 'note', t('reject.cause'), true, 'btn-danger'],
    ['resolve', 'note', t('resolve.note'), false, 'btn-ok'],
    ['reopen', 'reason', t('reopen.reason'), true, 'btn-primary'],
    ['assign', 'commander', t('assign.name'), true, 'btn-primary'],
  ];
  for (const [verb, name, label, required, cls] of inline) {
    if (!ui.open.get(`${id}:${verb}`)) continue;
    if (!buttons.some((b) => b.dataset.toggle === verb)) continue;
    const key = `${id}:${verb}:${name}`;
    const input = field(key, { class: 'input', placeholder: label, 'aria-label': label, maxlength: verb === 'assign' ? 100 : 4000 });
    const submit = button(t('btn.submit'), cls, async (e) => {
      const value = (input.value || '').trim();
      if (required && !value) {
        errors.set(`${id}:${verb}`, t('err.required'));
        paintErrors(`${id}:${verb}`);
        input.focus();
        return;
      }
      const ok = await act(`${id}:${verb}`, e.currentTarget, () => command(id, verb, { [name]: value }));
      if (ok) { clearDrafts(key); ui.open.delete(`${id}:${verb}`); renderIncident(); }
    }, { dataset: { submit: verb } });
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); submit.click(); } });
    forms.push(h('div', { class: 'inline-form', dataset: { form: verb } },
      h('label', { class: 'inline-label' }, label), input, submit,
      button(t('btn.cancel'), 'btn-ghost', () => { ui.open.delete(`${id}:${verb}`); renderIncident(); })));
  }

  const report = (which) => h('a', {
    class: 'btn btn-ghost btn-lg report-link', href: `${incidentPath(id, 'report')}?lang=${which}&format=html`,
    target: '_blank', rel: 'noopener', dataset: { report: which },
  }, t(`inc.report.${which}`));

  const facts = [
    [t('inc.opened'), `${fmtWhen(inc.opened_at)}${inc.opened_by ? ` · ${t('inc.openedby')}: ${inc.opened_by}` : ''}`],
    [t('inc.age'), ageEl(inc.opened_at)],
    [t('inc.next'), inc.next_deadline ? dueEl(inc.next_deadline) : '—'],
    [t('inc.commander'), roleName(inc.commander) || '—'],
  ];
  if (inc.acknowledged_at) facts.push([t('inc.acked'), `${inc.acknowledged_by} · ${fmtWhen(inc.acknowledged_at)}`]);
  if (inc.resolved_at) facts.push([t('inc.resolved'), `${inc.resolved_by} · ${fmtWhen(inc.resolved_at)}`]);
  if (inc.closed_at) facts.push([t('inc.closedby'), `${inc.closed_by} · ${fmtWhen(inc.closed_at)}`]);

  const verbs = ['ack', 'confirm', 'reject', 'resolve', 'reopen', 'assign'];
  const cls = ['card', 'incident-head', `sev-${inc.severity}`, `st-${inc.status}`];
  if (inc.status === 'open') cls.push('flash');
  return h('section', { class: cls.join(' '), dataset: { status: inc.status, id } },
    h('div', { class: 'head-top' },
      button(t('btn.back'), 'btn-ghost btn-small no-print', () => { location.hash = '#/board'; }),
      h('span', { class: 'inc-id mono' }, id)),
    h('div', { class: 'head-title' },
      h('h1', {}, tx(inc.name)),
      sevBadge(inc.severity), h('span', { class: 'head-status' }, statusBadge(inc.status)),
      inc.drill ? badge(t('drill'), 'badge-drill') : null,
      inc.verdict ? badge(t(`verdict.${inc.verdict}`), `badge-verdict verdict-${inc.verdict}`) : null,
      inc.returned_to_normal ? badge(inc.status === 'open' ? t('rtn.unacked') : t('rtn.acked'),
        inc.status === 'open' ? 'badge-rtn' : 'badge-quiet') : null),
    h('div', { class: 'head-place' },
      h('span', { class: 'place-text' }, places(inc)),
      h('span', { class: 'stage-chip' }, tx(inc.stage_name) || inc.stage)),
    stagePath(d),
    h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', { class: 'fact' }, h('dt', {}, k), h('dd', {}, v)))),
    h('div', { class: 'head-actions no-print' }, buttons, report('zh'), report('en')),
    forms.length ? h('div', { class: 'head-forms no-print' }, forms) : null,
    verbs.map((v) => errBox(`${id}:${v}`)),
    !mayWork(inc) && inc.status !== 'closed' ? h('p', { class: 'muted small' }, t('inc.readonly')) : null);
}

function stagePath(d) {
  const pb = d.playbook;
  if (!pb) return null;
  const inc = d.incident;
  const entered = inc.entered || [];
  return h('ol', { class: 'stage-path' }, entered.map((id, i) => {
    const s = pb.stages.find((x) => x.id === id);
    return h('li', { class: i === entered.length - 1 ? 'current' : '' }, s ? tx(s.name) : id);
  }));
}

function toggleButton(id, verb, label, cls) {
  const key = `${id}:${verb}`;
  const el = button(label, cls, () => {
    if (ui.open.get(key)) ui.open.delete(key); else ui.open.set(key, true);
    renderIncident();
    const input = document.querySelector(`[data-form="${verb}"] input`);
    if (input) input.focus();
  }, { dataset: { action: verb, toggle: verb }, 'aria-expanded': ui.open.get(key) ? 'true' : 'false' });
  return el;
}

function card(title, cls, ...body) {
  return h('section', { class: `card ${cls || ''}`.trim() }, h('h2', { class: 'card-title' }, title), body);
}

// ---- prompts

function promptsCard(d, n, workable) {
  const inc = d.incident;
  const pb = d.playbook || {};
  const prompts = inc.prompts || [];
  if (!prompts.length) return null;
  const waiting = prompts.filter((p) => p.status === 'open' || p.status === 'awaiting_second');
  const settled = prompts.filter((p) => !(p.status === 'open' || p.status === 'awaiting_second'));
  const cards = waiting.map((p) => promptBox(inc, p, (pb.prompts || {})[p.id], workable));
  return card(t('sec.prompts'), 'card-prompts',
    cards.length ? cards : null,
    settled.length ? h('div', { class: 'settled' },
      h('h3', {}, t('sec.prompts.done')),
      h('ul', { class: 'plain-list' }, settled.map((p) => {
        const def = (pb.prompts || {})[p.id];
        return h('li', { class: 'settled-prompt', dataset: { prompt: p.id, status: p.status } },
          h('span', { class: 'settled-text' }, def ? tx(def.text) : p.id),
          h('span', { class: `answer answer-${p.answer || 'none'}` }, settledText(p)));
      }))) : null);
}

function settledText(p) {
  if (p.status === 'acted_on_timeout') return t('prompt.acted');
  const a = p.answer === 'yes' ? t('btn.yes') : t('btn.no');
  if (p.confirmed_by) return t('prompt.answered2', { a, who: p.answered_by, second: p.confirmed_by, at: fmtWhen(p.answered_at) });
  return t('prompt.answered', { a, who: p.answered_by, at: fmtWhen(p.answered_at) });
}

function promptBox(inc, p, def, workable) {
  const id = inc.id;
  const key = `${id}:answer:${p.id}`;
  const noteKey = `${key}:note`;
  const policy = def && def.on_timeout ? t(`prompt.policy.${def.on_timeout}`) : '';
  const second = p.status === 'awaiting_second';
  const mine = second && state.me && p.answered_by === state.me.name;
  const answer = (value) => async (e) => {
    const note = draftValue(noteKey) || '';
    const ok = await act(key, e.currentTarget, () => command(id, 'answer', { prompt: p.id, answer: value, note }));
    if (ok) clearDrafts(noteKey);
  };
  const call = def && def.call;
  return h('div', { class: `prompt ${second ? 'prompt-second' : ''} ${p.timed_out ? 'prompt-timedout' : ''}`.trim(), dataset: { prompt: p.id, status: p.status } },
    h('p', { class: 'prompt-text' }, def ? tx(def.text) : p.id),
    h('div', { class: 'prompt-meta' },
      p.due_at ? dueEl(p.due_at, 'due-big') : null,
      def && def.timeout ? h('span', { class: 'muted' }, t('prompt.timeout', { t: words(def.timeout) })) : null,
      policy ? h('span', { class: `policy policy-${def.on_timeout}` }, policy) : null,
      def && def.second_confirmation ? badge(t('prompt.second'), 'badge-quiet') : null,
      p.timed_out ? badge(t('prompt.timedout'), 'badge-alarm') : null),
    call ? callBox(call, 'compact') : null,
    def && def.actions && def.actions.length ? h('p', { class: 'prompt-onyes' }, t('prompt.onyes'), ' ',
      def.actions.map(tx).join('、')) : null,
    second ? h('p', { class: 'prompt-wait' }, mine ? t('prompt.you_first')
      : t('prompt.waiting_second', { who: p.answered_by })) : null,
    workable ? h('div', { class: 'prompt-buttons' },
      button(second ? t('btn.yes.second') : t('btn.yes'), 'btn-yes btn-huge', answer('yes'),
        { dataset: { answer: 'yes' }, disabled: mine }),
      button(t('btn.no'), 'btn-no btn-huge', answer('no'), { dataset: { answer: 'no' } }),
      field(noteKey, { class: 'input prompt-note', placeholder: t('step.note'), 'aria-label': t('step.note'), maxlength: 4000 })) : null,
    errBox(key));
}

function callBox(call, mode) {
  const facts = (call.facts || '').split(',').filter(Boolean);
  const me = state.me ? (state.me.display || state.me.name) : '';
  return h('div', { class: `call call-${mode}` },
    h('div', { class: 'call-head' },
      h('span', { class: 'call-label' }, t('call.dial')),
      h('span', { class: 'call-name' }, pick(call, 'name')),
      h('span', { class: 'call-phone mono' }, call.phone || '')),
    facts.length ? h('p', { class: 'muted small' }, t('call.read')) : null,
    facts.length ? h('dl', { class: 'call-facts' }, facts.map((f) => h('div', { class: 'call-fact', dataset: { fact: f } },
      h('dt', {}, t(`fact.${f}`)),
      h('dd', {}, f === 'caller' ? (pick(call, 'caller') || me) : (pick(call, f) || '—'))))) : null);
}

// ---- branches

function branchesCard(d, n, workable) {
  const inc = d.incident;
  const pb = d.playbook || {};
  const branches = inc.branches || [];
  if (!branches.length) return null;
  return card(t('sec.branches'), 'card-branches', branches.map((b) => {
    const def = (pb.branches || {})[b.id];
    const key = `${inc.id}:decide:${b.id}`;
    const open = b.status === 'open';
    const options = def ? def.options : [];
    const chosen = options.find((o) => o.id === b.option);
    return h('div', { class: `branch ${open ? 'branch-open' : 'branch-decided'}`, dataset: { branch: b.id } },
      h('div', { class: 'branch-head' },
        h('p', { class: 'branch-q' }, def ? tx(def.question) : b.id),
        h('span', { class: 'role-chip' }, roleName(b.role)),
        open && b.due_at ? dueEl(b.due_at) : null),
      open ? h('div', { class: 'branch-options' }, options.map((o) => button(tx(o.label), 'btn-option',
        (e) => act(key, e.currentTarget, () => command(inc.id, 'decide', { branch: b.id, option: o.id })),
        { dataset: { option: o.id }, disabled: !workable }))) : h('p', { class: 'branch-result' },
        t('branch.decided', { label: chosen ? tx(chosen.label) : b.option, who: b.decided_by || t('branch.bydevices') }),
        b.note ? h('span', { class: 'muted' }, ` · ${b.note}`) : null),
      errBox(key));
  }));
}

// ---- steps

function stepsCard(d, n, workable) {
  const inc = d.incident;
  const pb = d.playbook || {};
  const steps = inc.steps || [];
  if (!steps.length) return null;
  const groups = new Map();
  for (const s of steps) {
    if (!groups.has(s.stage)) groups.set(s.stage, []);
    groups.get(s.stage).push(s);
  }
  const done = steps.filter((s) => s.status === 'done').length;
  return card(`${t('sec.steps')} · ${done}/${steps.length}`, 'card-steps', [...groups.entries()].map(([stage, list]) => h('div', { class: 'step-group' },
    h('h3', {}, n.stage(stage)),
    h('ol', { class: 'steps' }, list.map((s) => stepItem(inc, s, (pb.steps || {})[s.id], workable))))));
}

function stepItem(inc, s, def, workable) {
  const id = inc.id;
  const key = `${id}:step:${s.id}`;
  const noteKey = `${key}:note`;
  const whoKey = `${key}:who`;
  const isDone = s.status === 'done';
  const arrival = def && def.arrival;
  let controls = null;
  if (!isDone && workable) {
    if (arrival) {
      const who = field(whoKey, { class: 'input', placeholder: t('step.who'), 'aria-label': t('step.who'), maxlength: 100 });
      controls = h('div', { class: 'step-controls' }, who,
        button(`✓ ${t('btn.arrived')}`, 'btn-primary', async (e) => {
          const ok = await act(key, e.currentTarget, () => command(id, 'arrive', { role: s.role, who: draftValue(whoKey) || '' }));
          if (ok) clearDrafts(whoKey);
        }, { dataset: { arrive: s.id } }));
    } else {
      const note = field(noteKey, { class: 'input', placeholder: t('step.note'), 'aria-label': t('step.note'), maxlength: 4000 });
      controls = h('div', { class: 'step-controls' }, note,
        button(`✓ ${t('btn.done')}`, 'btn-primary', async (e) => {
          const ok = await act(key, e.currentTarget, () => command(id, 'step', { step: s.id, note: draftValue(noteKey) || '' }));
          if (ok) clearDrafts(noteKey);
        }, { dataset: { tick: s.id } }));
    }
  }
  let when = null;
  if (isDone) {
    let note = s.note || '';
    if (note.startsWith('on scene: ') && lang === 'zh') note = `到场：${note.slice(10)}`;
    when = h('span', { class: 'step-when' }, t('step.done', { who: s.done_by, at: fmtWhen(s.done_at) }),
      note ? h('span', { class: 'step-note' }, ` — ${note}`) : null);
  } else if (s.due_at) {
    when = dueEl(s.due_at);
  } else {
    when = h('span', { class: 'muted small' }, t('step.nodeadline'));
  }
  return h('li', { class: `step step-${s.status}`, dataset: { step: s.id, status: s.status } },
    h('span', { class: 'step-check', 'aria-hidden': 'true' }, isDone ? '✓' : ''),
    h('div', { class: 'step-body' },
      h('p', { class: 'step-text' }, def ? tx(def.text) : s.id),
      h('div', { class: 'step-meta' },
        h('span', { class: 'role-chip' }, roleName(s.role)),
        arrival ? badge(t('btn.arrived'), 'badge-quiet') : null,
        s.status === 'overdue' ? badge(t('step.overdue'), 'badge-alarm') : null,
        when),
      controls,
      errBox(key)));
}

// ---- auto-actions

function actionsCard(d, n) {
  const inc = d.incident;
  const actions = inc.actions || [];
  const skipped = d.events.filter((e) => e.kind === 'action_skipped');
  if (!actions.length && !skipped.length) return null;
  return card(t('sec.actions'), 'card-actions',
    h('ul', { class: 'actions' }, actions.map((a) => {
      const status = a.status === 'sent' && !a.feedback_point ? t('action.sentonly') : t(`action.status.${a.status}`);
      return h('li', { class: `action action-${a.status}`, dataset: { action: a.id, status: a.status } },
        h('div', { class: 'action-main' },
          h('span', { class: 'action-name' }, n.action(a.action)),
          h('span', { class: 'action-target' }, n.actuator(a.actuator_id))),
        h('div', { class: 'action-side' },
          badge(status, `action-badge action-badge-${a.status}`),
          a.status === 'sent' && a.feedback_due ? dueEl(a.feedback_due) : null,
          h('span', { class: 'muted small' }, fmtWhen(a.updated_at))),
        a.detail ? h('p', { class: 'action-detail' }, a.detail) : null,
        a.prompt ? h('p', { class: 'muted small' }, t('action.fromprompt', { p: a.prompt })) : null);
    }), skipped.map((e) => h('li', { class: 'action action-skipped' },
      h('div', { class: 'action-main' }, h('span', { class: 'action-name' }, pick(e.data, 'name') || e.data.action)),
      h('p', { class: 'action-detail' }, e.data.detail || '')))));
}

// ---- side cards

function statementCard(d) {
  const pb = d.playbook;
  if (!pb) return null;
  return card(t('sec.statement'), 'card-statement',
    pb.statement ? h('blockquote', { class: 'statement' }, tx(pb.statement)) : h('p', { class: 'muted' }, t('stmt.none')));
}

function callsCard(d) {
  const pb = d.playbook;
  if (!pb) return null;
  const inc = d.incident;
  const calls = Object.entries(pb.prompts || {}).filter(([, p]) => p.call);
  if (!calls.length) return null;
  return card(t('sec.calls'), 'card-calls', calls.map(([pid, p]) => {
    const st = (inc.prompts || []).find((x) => x.id === pid);
    const done = st && st.status === 'answered' && st.answer === 'yes';
    const waiting = st && (st.status === 'open' || st.status === 'awaiting_second');
    const facts = callBox(p.call, 'full');
    return h('div', { class: 'call-item', dataset: { call: pid } },
      h('div', { class: 'call-line' },
        badge(done ? t('call.status.done') : t('call.status.open'), done ? 'badge-ok' : 'badge-alarm'),
        h('span', { class: 'call-name' }, pick(p.call, 'name')),
        h('span', { class: 'call-phone mono' }, p.call.phone || '')),
      // the facts are in the prompt while it waits; here they stay at hand for a call back
      waiting ? null : h('details', { class: 'call-details' }, h('summary', {}, t('call.facts')), facts));
  }));
}

function recordsCard(d, workable) {
  const pb = d.playbook;
  if (!pb) return null;
  const inc = d.incident;
  const records = pb.records || [];
  const missing = records.filter((r) => r.required && r.value == null);
  const rows = records.map((r) => recordRow(inc, r, workable));
  return card(t('sec.records'), 'card-records',
    records.length ? null : h('p', { class: 'muted' }, t('record.none')),
    records.length ? h('p', { class: missing.length ? 'records-missing' : 'records-complete' },
      missing.length ? t('record.missing', { list: missing.map((r) => tx(r.label)).join('；') }) : t('record.complete')) : null,
    rows);
}

function localInputTime(epoch) {
  const dt = new Date(epoch * 1000);
  return `${fmtDate(epoch)}T${pad(dt.getHours())}:${pad(dt.getMinutes())}:${pad(dt.getSeconds())}`;
}

function recordRow(inc, r, workable) {
  const key = `${inc.id}:record:${r.id}`;
  const inputKey = `${key}:value`;
  let input;
  const label = tx(r.label);
  const current = r.value == null ? '' : r.value;
  if (r.type === 'time') {
    input = field(inputKey, { type: 'datetime-local', step: '1', class: 'input', 'aria-label': label }, current ? current.replace(' ', 'T') : '');
  } else if (r.type === 'number') {
    input = field(inputKey, { type: 'number', step: 'any', class: 'input', 'aria-label': label, inputmode: 'decimal' }, current);
  } else if (r.type === 'yes_no') {
    input = field(inputKey, { tag: 'select', class: 'input', 'aria-label': label }, current);
    add(input, [h('option', { value: '' }, t('yesno.choose')), h('option', { value: 'yes' }, t('btn.yes')), h('option', { value: 'no' }, t('btn.no'))]);
  } else {
    input = field(inputKey, { tag: 'textarea', rows: '2', class: 'input', 'aria-label': label, maxlength: 4000 }, current);
  }
  input.disabled = !workable;
  const save = button(t('btn.save'), 'btn-primary', async (e) => {
    const value = String(input.value || '').trim();
    if (!value) {
      errors.set(key, t('err.required'));
      paintErrors(key);
      input.focus();
      return;
    }
    const ok = await act(key, e.currentTarget, () => command(inc.id, 'record', { field: r.id, value }));
    if (ok) clearDrafts(inputKey);
  }, { dataset: { save: r.id }, disabled: !workable });
  const nowButton = r.type === 'time' && workable ? button(t('btn.now'), 'btn-ghost', () => {
    input.value = localInputTime(now());
    drafts.set(inputKey, input.value);
  }, { dataset: { now: r.id } }) : null;
  return h('div', { class: `record ${r.value == null ? 'record-empty' : 'record-filled'}`, dataset: { record: r.id, type: r.type } },
    h('label', { class: 'record-label' }, label,
      r.required ? h('span', { class: 'req', title: t('record.required') }, ` * ${t('record.required')}`) : null),
    h('div', { class: 'record-input' }, input, nowButton, workable ? save : null),
    r.value != null ? h('p', { class: 'record-by muted small' }, t('record.by', { who: r.by, at: fmtWhen(r.at) })) : null,
    errBox(key));
}

function notesCard(d) {
  const inc = d.incident;
  const key = `${inc.id}:note`;
  const textKey = `${key}:text`;
  const notes = d.events.filter((e) => e.kind === 'note').reverse();
  const canNote = may('note') && inc.status !== 'closed';
  return card(t('sec.notes'), 'card-notes',
    canNote ? h('div', { class: 'note-form' },
      field(textKey, { tag: 'textarea', rows: '2', class: 'input', placeholder: t('notes.placeholder'), 'aria-label': t('sec.notes'), maxlength: 4000 }),
      button(t('btn.addnote'), 'btn-primary', async (e) => {
        const text = draftValue(textKey) || '';
        if (!text) {
          errors.set(key, t('err.required'));
          paintErrors(key);
          return;
        }
        const ok = await act(key, e.currentTarget, () => command(inc.id, 'note', { text }));
        if (ok) { clearDrafts(textKey); renderIncident(); }
      }, { dataset: { action: 'note' } })) : null,
    errBox(key),
    notes.length ? h('ul', { class: 'notes' }, notes.map((e) => h('li', { class: 'note' },
      h('div', { class: 'note-meta muted small' }, `${fmtWhen(e.at)} · ${e.actor}`),
      h('p', { class: 'note-text' }, e.data.text || '')))) : h('p', { class: 'muted' }, t('notes.none')));
}

function devicesCard(d) {
  const devices = d.incident.devices || [];
  if (!devices.length) return null;
  return card(`${t('inc.devices')} · ${devices.length}`, 'card-devices',
    h('ul', { class: 'devices' }, devices.slice(0, 200).map((dev) => h('li', { class: `device state-${dev.state}` },
      h('span', { class: 'mono' }, dev.device ? `${dev.point_id}/${dev.device}` : dev.point_id),
      h('span', { class: 'device-place muted small' }, place(dev.location)),
      badge(t(`state.${dev.state}`), `state-badge state-${dev.state}`),
      h('span', { class: 'muted small' }, fmtWhen(dev.last_at))))));
}

// ---- close with review

function closeCard(d) {
  const inc = d.incident;
  const pb = d.playbook || {};
  if (inc.status === 'closed') {
    const review = inc.review || {};
    return card(t('sec.close'), 'card-close closed',
      h('p', {}, t('close.closed', { who: inc.closed_by, at: fmtWhen(inc.closed_at) })),
      h('dl', { class: 'review' }, ['handling', 'analysis', 'improvement'].map((part) => h('div', {},
        h('dt', {}, t(`close.${part}`)), h('dd', {}, review[part] || '—')))));
  }
  if (!mayClose(inc)) return card(t('sec.close'), 'card-close', h('p', { class: 'muted' }, t('close.needsup')));
  if (inc.status === 'open') return card(t('sec.close'), 'card-close', h('p', { class: 'muted' }, t('close.needack')));
  const key = `${inc.id}:close`;
  const guide = pb.review || {};
  const missing = (pb.records || []).filter((r) => r.required && r.value == null);
  const parts = ['handling', 'analysis', 'improvement'].map((part) => {
    const k = `${key}:${part}`;
    const help = guide[part] ? tx(guide[part]) : '';
    return h('label', { class: 'field review-field' },
      h('span', { class: 'field-label' }, t(`close.${part}`), h('span', { class: 'req' }, ' *')),
      help ? h('span', { class: 'field-help' }, help) : null,
      field(k, { tag: 'textarea', rows: '3', class: 'input', placeholder: help, maxlength: 4000, dataset: { review: part } }));
  });
  return card(t('sec.close'), 'card-close no-print-empty',
    missing.length ? h('p', { class: 'records-missing' }, t('record.missing', { list: missing.map((r) => tx(r.label)).join('；') })) : null,
    h('div', { class: 'review-grid' }, parts),
    h('div', { class: 'close-actions' },
      button(t('btn.close'), 'btn-primary btn-lg', async (e) => {
        const body = {};
        for (const part of ['handling', 'analysis', 'improvement']) body[part] = draftValue(`${key}:${part}`) || '';
        const empty = Object.entries(body).filter(([, v]) => !v).map(([p]) => t(`close.${p}`));
        if (empty.length) {
          errors.set(key, `${t('err.required')}: ${empty.join('、')}`);
          paintErrors(key);
          return;
        }
        const ok = await act(key, e.currentTarget, () => command(inc.id, 'close', body));
        if (ok) clearDrafts(`${key}:handling`, `${key}:analysis`, `${key}:improvement`);
      }, { dataset: { action: 'close' } })),
    errBox(key));
}

function followUpsCard(d) {
  const inc = d.incident;
  const tasks = inc.follow_ups || [];
  if (!tasks.length) return null;
  return card(t('sec.followups'), 'card-followups', h('ul', { class: 'plain-list' },
    tasks.map((task) => followUpItem(inc.id, task, mayWork(inc)))));
}

function followUpItem(incidentId, task, workable) {
  const key = `${incidentId}:follow_up:${task.id}`;
  const noteKey = `${key}:note`;
  const text = lang === 'en' ? (task.text_en || (task.text && task.text.en)) : (task.text_zh || (task.text && task.text.zh));
  const done = task.status === 'done';
  return h('li', { class: `followup ${done ? 'followup-done' : ''}`, dataset: { task: task.id } },
    h('div', { class: 'followup-head' },
      h('span', { class: 'followup-text' }, text || task.id),
      h('span', { class: 'role-chip' }, roleName(task.role)),
      done ? badge(t('btn.done'), 'badge-ok') : dueEl(task.due_at)),
    done ? h('p', { class: 'muted small' }, t('followup.done', { who: task.done_by, at: fmtWhen(task.done_at), note: task.note || '' }))
      : workable ? h('div', { class: 'step-controls' },
        field(noteKey, { class: 'input', placeholder: t('followup.note'), 'aria-label': t('followup.note'), maxlength: 4000 }),
        button(t('btn.markdone'), 'btn-primary', async (e) => {
          const note = draftValue(noteKey) || '';
          if (!note) { errors.set(key, t('err.required')); paintErrors(key); return; }
          const ok = await act(key, e.currentTarget, () => command(incidentId, 'follow_up', { task: task.id, note }));
          if (ok) {
            clearDrafts(noteKey);
            if (state.route.name === 'reports') loadTasks();
          }
        }, { dataset: { followup: task.id } })) : null,
    errBox(key));
}

// ---- timeline

const timelineAll = new Set();

function timelineCard(d, n) {
  const inc = d.incident;
  const events = [...d.events].reverse();
  const limit = timelineAll.has(inc.id) ? events.length : 150;
  const shown = events.slice(0, limit);
  return card(`${t('sec.timeline')} · ${events.length}`, 'card-timeline',
    h('ol', { class: 'timeline' }, shown.map((e) => h('li', { class: `ev ev-${evTone(e)}`, dataset: { kind: e.kind } },
      h('time', { class: 'ev-time mono' }, fmtWhen(e.at)),
      h('span', { class: 'ev-text' }, evText(e)),
      e.actor ? h('span', { class: 'ev-actor' }, e.actor) : null))),
    events.length > limit ? button(t('timeline.more', { n: events.length }), 'btn-ghost', () => {
      timelineAll.add(inc.id);
      renderIncident();
    }) : null);
}

function evTone(e) {
  const k = e.kind;
  if (['deadline_missed', 'escalated', 'action_failed', 'prompt_timed_out', 'reopened'].includes(k)) return 'alert';
  if (k === 'incident_opened' || (k === 'signal' && e.data.state === 'alarm')) return 'alarm';
  if (['acknowledged', 'step_done', 'arrival', 'action_done', 'prompt_answered', 'resolved', 'closed', 'follow_up_done'].includes(k)) return 'ok';
  if (k === 'note' || k === 'record') return 'human';
  return 'info';
}

const Z = () => lang !== 'en';

/** An event's line in the page's language, as the server rendered it (the page never reads
 * the engine's words). */
function evText(e) {
  if (e.text) return Z() ? e.text.zh : e.text.en;
  return t('ev.unknown', { kind: e.kind });
}

// ------------------------------------------------------------------------------------ open by hand

function renderOpen() {
  const view = $('#view');
  if (!may('open') && !may('drill')) {
    view.replaceChildren(h('p', { class: 'pad muted' }, t('open.nomay')));
    return;
  }
  const drillOnly = !may('open');
  const key = 'open';
  const manual = (state.site.playbooks || []).filter((p) => p.manual);
  const playbook = field(`${key}:playbook`, { tag: 'select', class: 'input', name: 'playbook', required: true });
  add(playbook, [h('option', { value: '' }, t('open.choose')),
    manual.map((p) => h('option', { value: p.id }, `${tx(p.name)} · ${t(`sev.${p.severity}`)}`))]);
  const building = field(`${key}:building`, { tag: 'select', class: 'input', name: 'building' });
  add(building, [h('option', { value: '' }, t('open.none')),
    (state.site.buildings || []).map((b) => h('option', { value: b }, t('place.building', { v: b })))]);
  const text = (name, max, extra = {}) => field(`${key}:${name}`, { class: 'input', name, maxlength: max, ...extra });
  const drill = field(`${key}:drill`, { type: 'checkbox', name: 'drill' }, drillOnly);
  if (drillOnly) { drill.checked = true; drill.disabled = true; }
  const labelled = (label, input, cls = '') => h('label', { class: `field ${cls}`.trim() }, h('span', { class: 'field-label' }, label), input);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-lg', dataset: { action: 'open' } }, t('btn.open'));
  const form = h('form', { class: 'card open-form', novalidate: true },
    h('div', { class: 'form-grid' },
      labelled(t('open.playbook'), playbook, 'span-2'),
      labelled(t('open.building'), building),
      labelled(t('open.floor'), text('floor', 40, { inputmode: 'text' })),
      labelled(t('open.zone'), text('zone', 40)),
      labelled(t('open.unit'), text('unit', 40)),
      labelled(t('open.reporter'), text('reporter', 200), 'span-2'),
      labelled(t('open.note'), field(`${key}:note`, { tag: 'textarea', rows: '3', class: 'input', name: 'note', maxlength: 4000 }), 'span-2')),
    (may('drill') ? h('label', { class: 'check' }, drill, h('span', {}, t('open.drill'))) : null),
    drillOnly ? h('p', { class: 'muted small' }, t('open.drillonly')) : null,
    h('div', { class: 'form-actions' }, submit),
    errBox(key));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = (name) => String((form.elements[name] && form.elements[name].value) || '').trim();
    if (!value('playbook')) {
      errors.set(key, `${t('open.playbook')}: ${t('err.required')}`);
      paintErrors(key);
      return;
    }
    const body = {
      playbook: value('playbook'), building: value('building'), floor: value('floor'),
      zone: value('zone'), unit: value('unit'), reporter: value('reporter'), note: value('note'),
      drill: drillOnly || Boolean(form.elements.drill && form.elements.drill.checked),
    };
    const result = await act(key, submit, () => api('POST', '/api/incidents', body));
    if (result) {
      for (const k of [...drafts.keys()]) if (k.startsWith('open:')) drafts.delete(k);
      location.hash = result.id ? `#/incident/${encodeURIComponent(result.id)}` : '#/board';
    }
  });
  rerender(view, () => [h('div', { class: 'view-head' }, h('div', {}, h('h1', {}, t('open.title')),
    h('p', { class: 'muted' }, t('open.sub')))), form]);
}

// ------------------------------------------------------------------------------------ points

const points = {
  list: [], // the rows for the current filters
  rows: new Map(), // id → {point, tr}
  meta: new Map(), // id → point (every point, for names in the walk test)
  filters: { building: '', kind: '', state: '', q: '' },
};

const walk = { active: false, start: 0, seen: new Map(), last: null };

async function loadPoints() {
  const f = points.filters;
  const query = new URLSearchParams();
  if (f.building) query.set('building', f.building);
  if (f.kind) query.set('kind', f.kind);
  if (f.state) query.set('state', f.state);
  const data = await api('GET', `/api/points${query.toString() ? `?${query}` : ''}`);
  points.list = data.points;
  for (const p of data.points) points.meta.set(p.id, p);
  if (state.route.name === 'points') renderPoints(false);
}

async function loadMeta() {
  const data = await api('GET', '/api/points');
  for (const p of data.points) points.meta.set(p.id, p);
}

function onPoint(update) {
  const meta = points.meta.get(update.id);
  const { id, ...fields } = update;
  if (meta) Object.assign(meta, fields, { offline: update.state === 'offline' });
  const row = points.rows.get(id);
  if (row) {
    Object.assign(row.point, fields, { offline: update.state === 'offline' });
    const fresh = pointRow(row.point);
    row.tr.replaceWith(fresh);
    row.tr = fresh;
    fresh.classList.add('just-updated');
  } else if (meta && state.route.name === 'points' && matchesFilters(meta)
             && !points.list.some((p) => p.id === meta.id)) {
    points.list.push(meta); // e.g. a point that has just gone into the state filtered on
    fillPointRows();
  }
  onActuatorFeedback(update);
  if (walk.active && update.last_seen != null && update.last_seen >= walk.start) {
    const seen = walk.seen.get(update.id);
    walk.seen.set(update.id, { ...update, count: (seen ? seen.count : 0) + 1 });
    scheduleWalk();
  }
}

let walkFrame = 0;
function scheduleWalk() {
  cancelAnimationFrame(walkFrame);
  walkFrame = requestAnimationFrame(() => {
    const box = $('#walk');
    if (box) box.replaceWith(walkCard());
  });
}

function saveWalk() {
  if (walk.active) localStorage.setItem('ag.walk', JSON.stringify({ start: walk.start }));
  else localStorage.removeItem('ag.walk');
}

function restoreWalk() {
  try {
    const saved = JSON.parse(localStorage.getItem('ag.walk') || 'null');
    if (saved && saved.start && may('walk_test')) {
      walk.active = true;
      walk.start = saved.start;
      walk.seen = new Map();
      loadWalkSince();
    }
  } catch { /* nothing saved */ }
}

async function loadWalkSince() {
  try {
    if (!points.meta.size) await loadMeta();
    const data = await api('GET', `/api/points?seen_since=${encodeURIComponent(walk.start)}`);
    for (const p of data.points) {
      if (!walk.seen.has(p.id)) walk.seen.set(p.id, { id: p.id, state: p.state, last_seen: p.last_seen, value: p.value, count: 1 });
    }
    scheduleWalk();
  } catch { /* shown by the stream state */ }
}

async function startWalk(e) {
  walk.active = true;
  walk.start = now();
  walk.seen = new Map();
  walk.last = null;
  saveWalk();
  scheduleWalk();
  await act('walk', e && e.currentTarget, loadMeta);
  scheduleWalk();
}

function stopWalk() {
  walk.last = { start: walk.start, count: walk.seen.size };
  walk.active = false;
  saveWalk();
  scheduleWalk();
}

function walkCard() {
  if (!may('walk_test')) return h('span', { id: 'walk', hidden: true });
  const seen = [...walk.seen.values()].sort((a, b) => (b.last_seen || 0) - (a.last_seen || 0));
  return h('section', { id: 'walk', class: `card walk ${walk.active ? 'walk-on' : ''}`, dataset: { active: walk.active ? 'yes' : 'no' } },
    h('div', { class: 'walk-head' },
      h('div', {}, h('h2', { class: 'card-title' }, t('walk.title')), h('p', { class: 'muted small' }, t('walk.sub'))),
      walk.active
        ? button(t('walk.stop'), 'btn-danger btn-lg', stopWalk, { dataset: { action: 'walk-stop' } })
        : button(t('walk.start'), 'btn-primary btn-lg', startWalk, { dataset: { action: 'walk-start' } })),
    errBox('walk'),
    walk.active ? h('div', { class: 'walk-status' },
      h('span', {}, t('walk.since', { at: fmtWhen(walk.start) }), ageEl(walk.start)),
      h('strong', { class: 'walk-count', dataset: { count: String(seen.length) } }, t('walk.count', { n: seen.length }))) : null,
    !walk.active && walk.last ? h('p', { class: 'muted' }, t('walk.stopped', { at: fmtWhen(walk.last.start), n: walk.last.count })) : null,
    walk.active ? (seen.length ? h('table', { class: 'table walk-table' },
      h('thead', {}, h('tr', {}, [t('points.id'), t('points.name'), t('col.place'), t('points.state'), t('points.value'), t('points.lastseen'), t('walk.reports')].map((x) => h('th', {}, x)))),
      h('tbody', {}, seen.map((s) => {
        const meta = points.meta.get(s.id);
        return h('tr', { class: `state-${s.state}`, dataset: { pid: s.id } },
          h('td', { class: 'mono' }, s.id),
          h('td', {}, meta ? tx(meta.name) : ''),
          h('td', {}, meta ? place(meta.location) : ''),
          h('td', {}, badge(t(`state.${s.state}`), `state-badge state-${s.state}`)),
          h('td', { class: 'mono' }, s.value == null ? '—' : String(s.value)),
          h('td', {}, agoEl(s.last_seen)),
          h('td', { class: 'num' }, String(s.count)));
      }))) : h('p', { class: 'muted' }, t('walk.none'))) : null);
}

function matchesFilters(p) {
  const f = points.filters;
  return (!f.building || p.location.building === f.building) && (!f.kind || p.kind === f.kind)
    && (!f.state || p.state === f.state);
}

function pointRow(p) {
  const cls = [`state-${p.state}`];
  if (p.offline) cls.push('offline');
  return h('tr', { class: cls.join(' '), dataset: { pid: p.id, state: p.state } },
    h('td', { class: 'mono' }, p.id),
    h('td', {}, tx(p.name)),
    h('td', {}, t(`kind.${p.kind}`) === `kind.${p.kind}` ? p.kind : t(`kind.${p.kind}`)),
    h('td', {}, place(p.location)),
    h('td', { title: p.offline_reason || '' }, badge(t(`state.${p.state}`) || p.state, `state-badge state-${p.state}`),
      ...(p.conditions || []).map((c) => h('span', { class: 'badge badge-condition', dataset: { condition: c.id } }, tx(c))),
      p.chattering ? badge(t('points.chattering', { n: p.chattering }), 'badge-chatter') : null,
      p.offline_reason ? h('span', { class: 'muted small offline-why' }, p.offline_reason) : null),
    h('td', { class: 'mono' }, p.value == null ? '—' : String(p.value)),
    h('td', {}, agoEl(p.last_seen)),
    h('td', { class: 'muted small' }, p.since ? fmtWhen(p.since) : '—'));
}

function renderPoints(entering) {
  const view = $('#view');
  if (entering) {
    view.replaceChildren(h('p', { class: 'muted pad' }, t('inc.loading')));
    loadExtras();
    loadPoints().catch((err) => {
      errors.set('points', err.message);
      renderPoints(false);
    });
    return;
  }
  const f = points.filters;
  const select = (name, options, label) => {
    const el = h('select', { class: 'input', 'aria-label': label, dataset: { filter: name } },
      h('option', { value: '' }, `${label}: ${t('points.all')}`),
      options.map(([value, text]) => h('option', { value }, text)));
    el.value = f[name];
    el.addEventListener('change', () => { f[name] = el.value; loadPoints().catch(() => {}); });
    return el;
  };
  const search = h('input', { class: 'input', type: 'search', placeholder: t('points.search'), 'aria-label': t('points.search'), value: f.q });
  search.addEventListener('input', () => { f.q = search.value; fillPointRows(); });
  const kinds = (state.site.point_kinds || []).map((k) => [k, t(`kind.${k}`) === `kind.${k}` ? k : t(`kind.${k}`)]);
  const states = ['normal', 'prealarm', 'alarm', 'trouble', 'offline', 'test', 'warmup', 'unknown'].map((s) => [s, t(`state.${s}`)]);
  const buildings = (state.site.buildings || []).map((b) => [b, t('place.building', { v: b })]);
  const tbody = h('tbody', { id: 'points-body' });
  const table = h('table', { class: 'table points-table' },
    h('thead', {}, h('tr', {}, [t('points.id'), t('points.name'), t('points.kind'), t('col.place'), t('points.state'),
      t('points.value'), t('points.lastseen'), t('points.since')].map((x) => h('th', {}, x)))), tbody);
  const offline = points.list.filter((p) => p.offline).length;
  view.replaceChildren(
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', {}, t('points.title')), h('p', { class: 'muted' }, t('points.sub'))),
      h('div', { class: 'view-head-meta' },
        badge(t('points.count', { n: points.list.length, off: offline }), offline ? 'badge-alarm' : 'badge-quiet'))),
    walkCard(),
    actuatorsSection(),
    deadLettersSection(),
    h('section', { class: 'card' },
      h('div', { class: 'filters no-print' },
        select('building', buildings, t('points.building')),
        select('kind', kinds, t('points.kind')),
        select('state', states, t('points.state')),
        search,
        button(t('btn.refresh'), 'btn-ghost', () => loadPoints().catch(() => {}))),
      errBox('points'),
      h('div', { class: 'table-wrap' }, table)));
  fillPointRows();
}

// ------------------------------------------------------------------- actuators, dead letters

const extra = { open: { actuators: false, deadletters: false }, actuators: null, letters: null, limit: 50 };

/** A translated code when the table knows it, else the code itself. */
function tk(prefix, value) {
  const key = `${prefix}.${value}`;
  return L[key] ? t(key) : String(value == null ? '' : value);
}

function loadExtras() {
  loadActuators();
  loadDeadLetters();
}

async function loadActuators(btn) {
  const data = await act('actuators', btn, () => api('GET', '/api/actuators'));
  if (data) {
    extra.actuators = data.actuators;
    paintSection('actuators');
  }
}

async function loadDeadLetters(btn) {
  const data = await act('deadletters', btn, () => api('GET', `/api/deadletters?limit=${extra.limit}`));
  if (data) {
    extra.letters = data.dead_letters;
    paintSection('deadletters');
  }
}

function paintSection(name) {
  const old = $(`#sec-${name}`);
  if (old) old.replaceWith(name === 'actuators' ? actuatorsSection() : deadLettersSection());
}

/** A collapsible card: its open state survives re-rendering; opening it loads it afresh. */
function foldSection(name, title, sub, count, body, reload) {
  const details = h('details', { class: 'card fold', id: `sec-${name}`, dataset: { section: name } },
    h('summary', { class: 'fold-head' },
      h('h2', { class: 'card-title' }, title),
      count == null ? null : badge(String(count), 'badge-quiet')),
    h('div', { class: 'fold-tools' },
      h('p', { class: 'muted small' }, sub),
      button(t('btn.refresh'), 'btn-ghost btn-small', (e) => reload(e.currentTarget), { dataset: { refresh: name } })),
    errBox(name),
    body);
  details.open = extra.open[name];
  details.addEventListener('toggle', () => {
    const was = extra.open[name];
    extra.open[name] = details.open;
    if (details.open && !was) reload();
  });
  return details;
}

function actuatorsSection() {
  const list = extra.actuators;
  let body;
  if (!list) body = h('p', { class: 'muted' }, t('inc.loading'));
  else if (!list.length) body = h('p', { class: 'muted' }, t('act.none'));
  else {
    body = h('div', { class: 'table-wrap' }, h('table', { class: 'table actuators-table' },
      h('thead', {}, h('tr', {}, [t('act.device'), t('points.kind'), t('col.place'), t('act.commands'),
        t('act.last'), t('act.feedback')].map((x) => h('th', {}, x)))),
      h('tbody', {}, list.map(actuatorRow))));
  }
  return foldSection('actuators', t('act.title'), t('act.sub'), list ? list.length : null, body, loadActuators);
}

function actuatorRow(a) {
  const last = a.last;
  const lastCell = last ? h('div', { class: 'act-last' },
    h('div', {}, last.command ? h('span', { class: 'mono' }, last.command) : null,
      ' ', badge(tk('action.status', last.status), `act-status act-${last.status}`)),
    h('div', { class: 'muted small' }, fmtWhen(last.at), last.incident_id ? ' · ' : '',
      last.incident_id ? h('a', { class: 'mono', href: `#/incident/${encodeURIComponent(last.incident_id)}` }, last.incident_id) : null),
    last.detail ? h('div', { class: 'muted small act-detail' }, last.detail) : null)
    : h('span', { class: 'muted' }, t('act.nolast'));
  const feedback = (a.feedback || []).length ? h('ul', { class: 'plain-list feedback-list' }, a.feedback.map((f) => h('li', {
    class: `feedback state-${f.state}`, dataset: { feedback: f.point } },
  h('span', { class: 'mono' }, f.point),
  h('span', { class: 'muted small' }, ` (${f.command}) `),
  badge(tk('state', f.state), `state-badge state-${f.state}`),
  h('span', { class: 'mono' }, ` ${f.value == null ? '—' : String(f.value)} `),
  agoEl(f.last_seen))))
    : h('span', { class: 'muted small' }, t('act.nofeedback'));
  return h('tr', { dataset: { actuator: a.id } },
    h('td', {}, h('div', {}, tx(a.name)), h('div', { class: 'mono muted small' }, a.id)),
    h('td', {}, tk('akind', a.kind)),
    h('td', {}, a.location || t('place.site')),
    h('td', {}, (a.commands || []).map((c) => h('span', { class: 'chip mono' }, c))),
    h('td', {}, lastCell),
    h('td', {}, feedback));
}

function deadLettersSection() {
  const list = extra.letters;
  let body;
  if (!list) body = h('p', { class: 'muted' }, t('inc.loading'));
  else if (!list.length) body = h('p', { class: 'muted' }, t('dl.none'));
  else {
    body = h('div', { class: 'table-wrap' }, h('table', { class: 'table deadletters-table' },
      h('thead', {}, h('tr', {}, [t('dl.at'), t('dl.source'), t('dl.topic'), t('dl.reason'), t('dl.detail'),
        t('dl.size'), t('dl.payload')].map((x) => h('th', {}, x)))),
      h('tbody', {}, list.map((d) => h('tr', { class: 'deadletter-row', dataset: { topic: d.topic, reason: d.reason } },
        h('td', { class: 'nowrap' }, fmtWhen(d.at)),
        h('td', {}, d.source),
        h('td', { class: 'mono' }, d.topic),
        h('td', { title: d.reason }, tk('dl.reason', d.reason)),
        h('td', { class: 'small' }, d.detail),
        h('td', { class: 'num' }, String(d.size)),
        h('td', {}, h('pre', { class: 'payload mono' }, d.payload)))))));
  }
  return foldSection('deadletters', t('dl.title'), t('dl.sub', { n: extra.limit }), list ? list.length : null, body, loadDeadLetters);
}

function onActuatorFeedback(update) {
  if (!extra.actuators || state.route.name !== 'points') return;
  let hit = false;
  for (const a of extra.actuators) {
    for (const f of a.feedback || []) {
      if (f.point === update.id) {
        Object.assign(f, { state: update.state, value: update.value, last_seen: update.last_seen });
        hit = true;
      }
    }
  }
  if (hit) paintSection('actuators');
}

function fillPointRows() {
  const tbody = $('#points-body');
  if (!tbody) return;
  const q = points.filters.q.trim().toLowerCase();
  const list = points.list.filter((p) => !q || p.id.toLowerCase().includes(q)
    || tx(p.name).toLowerCase().includes(q) || (p.name.zh || '').includes(q));
  // offline and alarming points first, then by id
  const rank = { alarm: 0, offline: 1, trouble: 2, prealarm: 3, test: 4, normal: 5, unknown: 6 };
  list.sort((a, b) => ((rank[a.state] ?? 9) - (rank[b.state] ?? 9)) || a.id.localeCompare(b.id, undefined, { numeric: true }));
  points.rows = new Map();
  const rows = list.map((p) => {
    const tr = pointRow(p);
    points.rows.set(p.id, { point: p, tr });
    return tr;
  });
  tbody.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: '8', class: 'muted' }, t('points.none')))]));
}

// ------------------------------------------------------------------------------------ reports

const reports = { days: 7, kpi: null, tasks: null, allTasks: false, incidents: null };

function renderReports(entering) {
  if (entering) {
    loadKpi();
    loadTasks();
    loadReportIncidents();
  }
  const view = $('#view');
  const periods = [7, 30, 90].map((n) => button(t('reports.days', { n }), `btn-seg ${reports.days === n ? 'active' : ''}`, () => {
    reports.days = n;
    reports.kpi = null;
    loadKpi();
    renderReports(false);
  }, { dataset: { days: String(n) }, 'aria-pressed': reports.days === n ? 'true' : 'false' }));
  const html = h('a', { class: 'btn btn-ghost', href: `/api/kpi?days=${reports.days}&format=html&lang=${lang}`, target: '_blank', rel: 'noopener', dataset: { kpiHtml: '1' } }, t('reports.html'));
  view.replaceChildren(
    h('div', { class: 'view-head' },
      h('div', {}, h('h1', {}, t('reports.title'))),
      h('div', { class: 'view-head-meta no-print' }, button(t('btn.print'), 'btn-ghost', () => window.print()))),
    h('section', { class: 'card kpi-card' },
      h('div', { class: 'card-title-row' }, h('h2', { class: 'card-title' }, t('reports.kpi')),
        h('div', { class: 'seg no-print' }, periods), h('span', { class: 'no-print' }, html)),
      errBox('kpi'),
      kpiBody()),
    h('section', { class: 'card tasks-card' },
      h('div', { class: 'card-title-row' }, h('h2', { class: 'card-title' }, t('reports.tasks')),
        h('label', { class: 'check no-print' }, (() => {
          const box = h('input', { type: 'checkbox', checked: reports.allTasks });
          box.addEventListener('change', () => { reports.allTasks = box.checked; loadTasks(); });
          return box;
        })(), h('span', {}, t('reports.tasks.all')))),
      errBox('tasks'),
      tasksBody()),
    h('section', { class: 'card' },
      h('h2', { class: 'card-title' }, t('reports.incidentlist')),
      errBox('incidents'),
      incidentsBody()));
}

async function loadKpi() {
  const days = reports.days;
  const data = await act('kpi', null, () => api('GET', `/api/kpi?days=${days}&format=json`));
  if (data && days === reports.days) {
    reports.kpi = data;
    if (state.route.name === 'reports') renderReports(false);
  }
}

async function loadTasks() {
  const data = await act('tasks', null, () => api('GET', `/api/tasks${reports.allTasks ? '?all=true' : ''}`));
  if (data) {
    reports.tasks = data.tasks;
    if (state.route.name === 'reports') renderReports(false);
  }
}

async function loadReportIncidents() {
  const data = await act('incidents', null, () => api('GET', '/api/incidents?status=all&limit=50'));
  if (data) {
    reports.incidents = data.incidents;
    if (state.route.name === 'reports') renderReports(false);
  }
}

function kpiBody() {
  const k = reports.kpi;
  if (!k) return h('p', { class: 'muted' }, t('inc.loading'));
  const tile = (label, value, cls = '') => h('div', { class: `tile ${cls}`.trim() }, h('span', { class: 'tile-value' }, String(value)), h('span', { class: 'tile-label' }, label));
  const pct = (x) => (x == null ? '—' : `${Math.round(x * 100)}%`);
  const table = (heads, rows) => (rows.length ? h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))) : h('p', { class: 'muted' }, t('reports.nodata')));
  const ack = k.time_to_ack || {};
  return h('div', { class: 'kpi' },
    h('p', { class: 'muted small' }, t('reports.period', { from: fmtWhen(k.since), to: fmtWhen(k.until) })),
    h('div', { class: 'tiles' },
      tile(t('reports.incidents'), k.incidents),
      tile(t('reports.false'), k.false_alarms, k.false_alarms ? 'tile-warn' : ''),
      tile(t('reports.missed'), k.missed_deadlines ? k.missed_deadlines.total : 0, k.missed_deadlines && k.missed_deadlines.total ? 'tile-alarm' : ''),
      tile(t('reports.openend'), (k.open_at_end || []).length),
      tile(t('reports.drills'), k.drills ? k.drills.count : 0),
      tile(`${t('reports.ack')} · ${t('reports.median')}`, words(ack.median))),
    h('div', { class: 'kpi-grid' },
      h('div', {}, h('h3', {}, t('reports.bytype')),
        table([t('reports.type'), t('reports.total'), t('reports.real'), t('reports.minor'), t('reports.false'), t('reports.undecided')],
          (k.by_type || []).map((r) => [pick(r, 'name') || r.type, r.total, r.real, r.minor, r.false_alarm, r.undecided]))),
      h('div', {}, h('h3', {}, t('reports.ack')),
        table([t('reports.count'), t('reports.median'), t('reports.p90'), t('reports.max'), t('reports.unacked')],
          [[ack.count || 0, words(ack.median), words(ack.p90), words(ack.max), ack.unacknowledged || 0]])),
      h('div', {}, h('h3', {}, t('reports.arrivals')),
        table([t('reports.role'), t('reports.count'), t('reports.median'), t('reports.p90'), t('reports.ontime')],
          (k.arrivals || []).map((a) => [pick(a, 'name') || a.role, a.count, words(a.median), words(a.p90), pct(a.on_time_share)]))),
      h('div', {}, h('h3', {}, t('reports.devices')),
        table([t('reports.device'), t('col.place'), t('reports.total'), t('reports.false'), t('reports.rate'), t('reports.maint')],
          (k.devices || []).filter((x) => x.false_alarms > 0 || x.maintenance).slice(0, 20)
            .map((x) => [x.device, x.location, x.incidents, x.false_alarms, pct(x.rate), x.maintenance ? t('reports.yes') : ''])))));
}

function tasksBody() {
  const tasks = reports.tasks;
  if (!tasks) return h('p', { class: 'muted' }, t('inc.loading'));
  if (!tasks.length) return h('p', { class: 'muted' }, t('reports.tasks.none'));
  return h('ul', { class: 'plain-list tasks' }, tasks.map((task) => h('li', { class: 'task-row' },
    h('a', { class: 'mono task-inc', href: `#/incident/${encodeURIComponent(task.incident_id)}` }, task.incident_id),
    followUpItem(task.incident_id, task, may('work')))));
}

function incidentsBody() {
  const list = reports.incidents;
  if (!list) return h('p', { class: 'muted' }, t('inc.loading'));
  if (!list.length) return h('p', { class: 'muted' }, t('reports.incidentlist.none'));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', {}, h('tr', {}, [t('col.incident'), t('reports.type'), t('col.place'), t('col.status'), t('inc.opened'), t('inc.report')].map((x) => h('th', {}, x)))),
    h('tbody', {}, list.map((inc) => h('tr', { class: `sev-${inc.severity}` },
      h('td', {}, h('a', { class: 'mono', href: `#/incident/${encodeURIComponent(inc.id)}` }, inc.id)),
      h('td', {}, tx(inc.name), inc.drill ? badge(t('drill'), 'badge-drill') : null),
      h('td', {}, place(inc.location)),
      h('td', {}, statusBadge(inc.status)),
      h('td', {}, fmtWhen(inc.opened_at)),
      h('td', { class: 'links' },
        h('a', { href: `${incidentPath(inc.id, 'report')}?lang=zh&format=html`, target: '_blank', rel: 'noopener' }, '中文'),
        ' · ',
        h('a', { href: `${incidentPath(inc.id, 'report')}?lang=en&format=html`, target: '_blank', rel: 'noopener' }, 'English')))))));
}

// ------------------------------------------------------------------------------------ start

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
