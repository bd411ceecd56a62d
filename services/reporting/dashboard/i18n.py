"""The dashboard's words in zh-CN (the default, for the sales department) and English.

The reader switches with ``?lang=en`` / ``?lang=zh-CN``; the choice is kept in a cookie.
"""

from __future__ import annotations

from fastapi import Request

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
COOKIE = "salesops_lang"

# key: (zh-CN, en)
WORDS: dict[str, tuple[str, str]] = {
    "title": ("销售运营看板", "Sales operations dashboard"),
    "overview": ("总览", "Overview"),
    "distributors": ("经销商", "Distributors"),
    "branches": ("分公司", "Branches"),
    "key_customers": ("重点客户", "Key customers"),
    "regions": ("区域", "Regions"),
    "staff": ("业务员", "Staff"),
    "review": ("月度评审", "Monthly review"),
    "annual": ("年度统计", "Annual statistics"),
    "receivables": ("应收账龄", "Receivables ageing"),
    "targets": ("目标达成", "Targets vs actual"),
    "visits": ("客户拜访", "Visits"),
    "expenses": ("销售费用", "Expenses"),
    "service": ("客服与售后", "Service"),
    "alerts": ("预警", "Alerts"),
    "ops": ("运维", "Operations"),
    "customer": ("客户", "Customer"),
    "find_customer": ("客户编码、名称或ID", "customer code, name or id"),
    "find": ("查找", "Find"),
    "period": ("期间", "Period"),
    "year": ("年度", "Year"),
    "as_of": ("截至", "As of"),
    "show": ("显示", "Show"),
    "previous": ("上一期", "Previous"),
    "next": ("下一期", "Next"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "export_xlsx": ("导出 Excel", "Export XLSX"),
    "filter": ("筛选", "Filter"),
    "all": ("全部", "All"),
    "nothing": ("无数据", "nothing to show"),
    "sign_in": ("登录", "Sign in"),
    "sign_in_needed": (
        "粘贴您的个人令牌登录（./salesops token issue，"
        "或 .state/identity/demo-tokens.json 中演示用户的令牌）；令牌只校验一次，不保存在浏览器中。",
        "Paste your personal token (./salesops token issue, or a demo user's in "
        ".state/identity/demo-tokens.json); it is checked once and not kept in the browser.",
    ),
    "token": ("令牌", "Token"),
    "open_dashboard": ("打开看板", "Open dashboard"),
    "bad_period": ("期间须为 YYYY-MM（1901–9998 年）", "period must be YYYY-MM (years 1901–9998)"),
    "bad_as_of": ("截至时间须为带时区的 ISO 时间", "as-of must be an ISO moment with a time zone"),
    "bad_year": ("年度须为 1901–9998 之间的数字", "year must be a number from 1901 to 9998"),
    "bad_id": (
        "ID、编码或名称须为 1–100 个字符，且不含控制字符",
        "an id, code or name is 1–100 characters, no control characters",
    ),
    "bad_span": ("范围须为月、季度或年度", "span must be month, quarter or year"),
    "bad_query": ("查询参数不正确", "a query parameter is not valid"),
    "not_found": ("未找到", "not found"),
    "several_found": ("找到多个客户，请选择：", "Several customers match; choose one:"),
    # KPI tiles
    "net_sales": ("本期净销售额", "Net sales"),
    "net": ("净销售额", "Net sales"),
    "vs_previous": ("环比", "vs previous"),
    "vs_last_year": ("同比", "vs last year"),
    "orders": ("订单数", "Orders"),
    "receivables_overdue": ("逾期应收", "Receivables overdue"),
    "holds_live": ("有效预留", "Holds live"),
    "complaints_open": ("未结投诉", "Complaints open"),
    "trend": ("近13期净销售额", "Net sales, last 13 periods"),
    # columns
    "rank": ("排名", "Rank"),
    "code": ("编码", "Code"),
    "name": ("名称", "Name"),
    "kind": ("类型", "Kind"),
    "region": ("区域", "Region"),
    "grade": ("等级", "Grade"),
    "salesperson": ("业务员", "Salesperson"),
    "ordered": ("订货额", "Ordered"),
    "shipped": ("发货额", "Shipped"),
    "paid": ("回款额", "Paid"),
    "deposits": ("定金", "Deposits"),
    "holds": ("预留 下/转/过期", "Holds made/conv/exp"),
    "complaints": ("投诉", "Complaints"),
    "complaints_qs": ("投诉 质量/服务", "Complaints q/s"),
    "fines": ("罚款", "Fines"),
    "growth_previous": ("环比增长", "Growth vs prev"),
    "growth_last_year": ("同比增长", "Growth vs last year"),
    "capital_occupied": ("资金占用", "Capital occupied"),
    "capital_limit": ("资金限额", "Capital limit"),
    "over_limit": ("超限", "Over limit"),
    "over_limit_approvals": ("超限审批", "Over-limit approvals"),
    "match_rate": ("要货单符合率", "Request-list match"),
    "reorder_alerts": ("补货提醒", "Reorder alerts"),
    "sales": ("销售额", "Sales"),
    "growth": ("增长率", "Growth"),
    "margin": ("毛利率", "Margin"),
    "by_sales": ("按销售额", "by sales"),
    "by_growth": ("按增长率", "by growth"),
    "by_margin": ("按毛利率", "by margin"),
    "customers_by_kind": ("客户数（按类型）", "Customers by kind"),
    "quantity_by_product": ("各产品数量", "Quantity by product"),
    "developed": ("新开发客户", "Customers developed"),
    "amount": ("金额", "Amount"),
    "dismissals": ("辞退建议", "Dismissal recs"),
    "flag": ("标记", "Flag"),
    "reason": ("原因", "Reason"),
    "total": ("合计", "Total"),
    "not_due": ("未到期", "Not due"),
    "overdue_1_30": ("逾期1–30天", "1–30 days"),
    "overdue_31_60": ("逾期31–60天", "31–60 days"),
    "overdue_61_90": ("逾期61–90天", "61–90 days"),
    "overdue_over_90": ("逾期90天以上", "Over 90 days"),
    "overdue": ("逾期合计", "Overdue"),
    "credit_used": ("信用占用", "Credit used"),
    "credit_limit": ("信用额度", "Credit limit"),
    "credit_used_share": ("占用比例", "Share used"),
    "alert": ("预警", "Alert"),
    "rule": ("规则", "Rule"),
    "subject": ("对象", "Subject"),
    "at": ("时间", "At"),
    "event": ("事件", "Event"),
    "aggregate": ("对象类型", "Aggregate"),
    "version": ("版本", "Version"),
    "who": ("操作人", "Who"),
    "why": ("原因", "Why"),
    "source": ("来源", "Source"),
    "position": ("位置", "Position"),
    "events": ("事件数", "Events"),
    "updated": ("更新时间", "Updated"),
    "status": ("状态", "Status"),
    "order": ("订单", "Order"),
    "total_amount": ("订单金额", "Total"),
    "holds_of": ("预留", "Holds"),
    "complaint": ("投诉", "Complaint"),
    "latest": ("最新事件", "Latest event"),
    "audit_trail": ("审计轨迹", "Audit trail"),
    "figures_over_time": ("各期数据", "Figures over time"),
    "consumption": ("事件消费进度", "Event consumption"),
    "consumers": ("消费者积压与死信", "Consumers: pending and dead letters"),
    "consumer": ("消费者", "Consumer"),
    "pending": ("待消费", "Pending"),
    "dead_letters": ("死信", "Dead letters"),
    "count": ("数量", "Count"),
    "wrong_token": ("令牌不正确", "wrong token"),
    "sign_out": ("退出登录", "sign out"),
    "token_one_line": ("请粘贴您的个人令牌（一行，UTF-8）", "paste your personal token (one line, UTF-8)"),
    # field and service pages
    "span": ("范围", "Span"),
    "span_month": ("月度", "Month"),
    "span_quarter": ("季度", "Quarter"),
    "span_year": ("年度", "Year"),
    "company": ("公司", "Company"),
    "unit": ("对象", "Unit"),
    "salespeople": ("业务员", "Salespeople"),
    "target": ("目标", "Target"),
    "attainment": ("达成率", "Attainment"),
    "gap": ("差额", "Gap"),
    "visits_planned": ("计划拜访", "Planned"),
    "visits_planned_made": ("计划内完成", "Planned made"),
    "visits_made": ("实际拜访", "Visits made"),
    "visits_logged": ("全部记录", "Logged"),
    "completion": ("完成率", "Completion"),
    "approved_expenses": ("已批费用", "Approved expenses"),
    "claims": ("报销单数", "Claims"),
    "over_budget_claims": ("超预算报销", "Over-budget claims"),
    "expense_ratio": ("费用率", "Expense ratio"),
    "annual_budget": ("年度预算", "Annual budget"),
    "feedback": ("客户反馈", "Feedback"),
    "by_kind": ("按类型", "By kind"),
    "feedback_major": ("重大事件", "Major"),
    "feedback_overdue_count": ("反馈逾期", "Feedback overdue"),
    "service_requests": ("售后服务", "Service requests"),
    "service_requests_overdue_count": ("售后逾期", "Service overdue"),
    "staff_member": ("人员", "Staff member"),
    "by_staff": ("按人员", "By staff member"),
    "feedback_assigned": ("分派反馈", "Feedback assigned"),
    "service_requests_assigned": ("分派售后", "Service assigned"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # alerts, kinds, flags
    "overdue_receivables": ("应收逾期", "Overdue receivables"),
    "over_capital_limit": ("超出资金限额", "Over the capital limit"),
    "credit_limit_nearly_used": ("信用额度占用超90%", "Credit over 90 % used"),
    "period_not_signed_off": ("期间报表未签核", "Period not signed off"),
    "security_expiring": ("担保即将到期", "Security expiring"),
    "contract_expiring": ("合同即将到期", "Contract expiring"),
    "orders_held": ("订单被暂停", "Orders held"),
    "hold_expiring": ("留货24小时内到期", "Hold expiring within 24 h"),
    "complaint_overdue": ("投诉逾期未结", "Complaint past its deadline"),
    "feedback_overdue": ("反馈逾期未复", "Feedback past its deadline"),
    "service_request_overdue": ("售后逾期未结", "Service request past its deadline"),
    "agent": ("代理商", "agent"),
    "dealer": ("经销商", "dealer"),
    "branch": ("分公司", "branch"),
    "reward": ("奖励", "reward"),
    "channel_optimisation": ("渠道优化", "channel optimisation"),
    "language": ("English", "中文"),
}


def choose(request: Request) -> str:
    """The reader's language: ``?lang=`` first, then the cookie, else zh-CN."""
    for given in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if given in LANGUAGES:
            return given
    return DEFAULT


class Words:
    """``words("orders")`` in one language; a word it does not know (a region, a code) as it is."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._index = LANGUAGES.index(lang)

    def __call__(self, key: object) -> str:
        if key is None:
            return "—"
        found = WORDS.get(str(key))
        return found[self._index] if found else str(key)

    @property
    def other(self) -> str:
        return LANGUAGES[1 - self._index]
