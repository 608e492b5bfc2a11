"""Every message a person reads in Chinese, in one place: what a verdict says (not found, related only, the caution,
the distress message, the lexical-only notice), the page's prompts and the library's refusals. `QueryConfig.messages`
takes its defaults from here; the page and the CLI show these, never their own wording. No imports: `import qa`
stays instant."""
from __future__ import annotations

# -- verdicts ---------------------------------------------------------------------------------------------------
NOT_FOUND = "未找到相关内容"
RELATED_ONLY = "资料中没有直接回答的句子，以下段落可能相关"
CAUTION = "资料中可能没有直接回答这个问题的内容：下面的句子只是最接近的原文，请对照出处核实。"
# a question naming an article no document holds (「民法典第99999条」): said first; what is shown is only related
ABSENT_ARTICLE = "资料中没有{article}。"
# said once, in Chinese, whenever a question was answered by keywords alone; the reason follows in （…）
LEXICAL_ONLY = "语义模型不可用，本次仅使用关键词检索，结果可能不够全面。"
NO_EMBEDDER = "这个索引建立时没有使用语义模型"
QUESTION_CUT = "问题过长，只使用了前 {limit} 个字。"
DISTRESS = (
    "听起来你现在很难受。你不是一个人，债务的事情总有办法慢慢解决。"
    "如果你有伤害自己的想法，请拨打全国心理援助热线 12356，有人愿意听你说；"
    "如果你或身边的人正处在危险中，请立即拨打 110。"
)

# -- the page ---------------------------------------------------------------------------------------------------
PROMPT = "请在上方输入您的问题，按回车或点击「提问」。也可以点一个示例问题试试。"
SUGGESTIONS = (
    "换一种说法，或用更具体的词，例如「强制下款」「协商还款」「投诉催收」；",
    "如果选了「来源筛选」，清空它再问一次；",
    "点击上方的示例问题，看看这里能回答哪类问题。",
)
K_OUT_OF_RANGE = "检索段落数必须是 1 到 {limit} 之间的整数（收到 {k}）。"
SEARCHING = "正在查找答案……"
WAITING = "资料库索引正在建立中，建好后会自动回答这个问题，请稍候……"
ANSWER_HEADING = "回答"
COPY = "复制答案"
CITED_HEADING = "引用段落"
SOURCES_HEADING = "来源："
TRY = "可以试试："
FOOT = "检索方式：{mode}。回答由上面引用的原文句子组成，请以原文为准。"

# -- the library (QA.add / QA.remove through the page) ----------------------------------------------------------
READ_ONLY = "这个资料库是只读的：不能在网页上上传或删除文档。"
BUSY = "资料库正在更新，请等这次更新完成后再试。"
NO_FILES = "请先选择要上传的文件（可以多选，也可以拖到上传框里）。"
NO_PICK = "请先选择要删除的文档。"
NOT_ALL = "不能删除全部文档：资料库里至少要留一篇。请先上传其他文档。"
NO_FOLDER = "找不到这个索引的文档文件夹，网页上无法修改资料库（可以在命令行用 qa add --corpus 文件夹）。"
UPDATING = "正在更新索引…"
