"""Every message a person reads in Chinese, in one place: what a verdict says (not found, related only, the caution,
the distress message, the lexical-only notice), the page's title, labels, buttons, prompts, cards and status lines,
the browser script's words, the library's refusals and reason codes, and the server's start-up lines. `QueryConfig.messages`
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
LINK = "链接"  # a passage's canonical link, on a card and in the HTML rendering

# -- the page's frame: title, labels and buttons (qa/ui/layout.py) ------------------------------------------------
TITLE = "借贷纠纷问答"
TAGLINE = "输入问题，从资料库中找出答案和出处。回答只由资料原文的句子组成，每句都标有来源编号。"
EXAMPLES = (
    "被强制下款的钱需要还吗？",
    "催收人员可以联系我的家人和同事吗？",
    "协商还款需要准备哪些材料？",
    "可以向哪些部门投诉暴力催收？",
)
EXAMPLES_HEADING = "**示例问题**（点一下就会提问）"  # Markdown
QUESTION_LABEL = "问题"
QUESTION_PLACEHOLDER = "例如：被强制下款的钱需要还吗？（按回车提问）"
ASK = "提问"
SOURCES_LABEL = "来源筛选（不选则搜索全部文档）"
SCRIPT_LABEL = "显示字体（引用仍为原文）"
ADVANCED = "高级"
TOP_K_LABEL = "检索段落数（1–{limit}）"
MODE_LABEL = "检索方式"
# (label, value) pairs of the page's radio buttons; the values are the library's
MODES = (("混合检索（推荐）", "hybrid"), ("语义检索", "dense"), ("关键词检索", "lexical"))
SCRIPTS = (("原文", None), ("简体", "t2s"), ("繁體", "s2t"))

# -- a passage card (qa/ui/render.py) -----------------------------------------------------------------------------
SCORE = "相关度 {score:.3f}"
DENSE_SCORE = "语义 {score:.3f}"
LEXICAL_SCORE = "关键词 {score:.3f}"
CONTEXT = "展开上下文"
CARD_ARTICLE = "条文 {article}"
CARD_PAGE = "第 {page} 页"
CARD_LINK = LINK + " {link}"
CARD_FILE = "文件 {source}"
CARD_HEADING = "章节 {heading}"

# -- the browser script (qa/ui/assets.py; {name} {size} {limit} are filled in there) ------------------------------
SCRIPT_TEXT = {
    "history": "最近问过：",
    "clear": "清除记录",
    "copied": "已复制",
    "copyFailed": "复制失败，请手动选择文字",
    "copy": COPY,
    "tooBig": "{name}：文件大小 {size}，超过上限 {limit}",
    "sep": "；",
    "noneUploaded": "。这次选择的文件都没有上传，请去掉过大的文件后重新选择。",
}

# -- the page's status line and start-up (qa/ui/service.py, qa/ui/server.py) ------------------------------------
INDEX_UNLOADABLE = "索引无法加载：{error}"
BUILDING = "正在从 {corpus} 建立索引（首次启动需要一点时间），已用 {elapsed} 秒……建好后即可提问，已提交的问题会自动回答。"
BUILD_FAILED = "无法从 {corpus} 建立索引：{error}"
BUILT = "刚刚从 {corpus} 建立了索引（用时 {seconds:.0f} 秒）。"
LIBRARY_SIZE = "资料库：{n} 篇文档。"
STILL_BUILDING = "索引仍在建立中，请稍后再试。"
# printed on the server's console
CONSOLE_BUILDING = "索引 {index} 不存在，正在从 {corpus} 建立……"
CONSOLE_RELOAD_FAILED = "新索引无法加载，继续使用旧索引：{error}"
NO_LOGIN_WARNING = ("警告：网页在 {host} 上对其他电脑开放，且没有登录。请只在可信网络中使用，"
                    "或用 --auth 用户名:密码（或环境变量 QA_AUTH）要求登录。")
LOGIN_PROMPT = "请输入用户名和密码。"
SERVING = "问答网页已启动：http://{host}:{port}/（同时回答 {workers} 个问题；按 Ctrl+C 停止）"

# -- requests the page's guard refuses (qa/ui/guard.py) -----------------------------------------------------------
UPLOAD_READ_ONLY = "这个资料库是只读的：不能上传文件。"
NO_SUCH_EVENT = "没有这个事件（fn_index 无效）。"
REQUEST_TOO_LARGE = "请求太大。"

# -- the library (QA.add / QA.remove through the page) ----------------------------------------------------------
READ_ONLY = "这个资料库是只读的：不能在网页上上传或删除文档。"
BUSY = "资料库正在更新，请等这次更新完成后再试。"
NO_FILES = "请先选择要上传的文件（可以多选，也可以拖到上传框里）。"
NO_PICK = "请先选择要删除的文档。"
NOT_ALL = "不能删除全部文档：资料库里至少要留一篇。请先上传其他文档。"
NO_FOLDER = "找不到这个索引的文档文件夹，网页上无法修改资料库（可以在命令行用 qa add --corpus 文件夹）。"
UPDATING = "正在更新索引…"

# -- the 资料库 panel (qa/ui/library_panel.py) ---------------------------------------------------------------------
LIBRARY = "资料库"
UPLOAD_LABEL = "上传文档（可以一次选多个，也可以把文件拖到这里）"
TYPES_HINT = ("可以上传的类型：{types}；每个文件不超过 {mb} MB。删除的文档会移到文档文件夹的 .removed/ 中，不会丢失。"
              "更新索引时仍可提问，新文档在更新完成后即可检索。")
READ_ONLY_NOTE = "这是只读资料库，只能查看文档列表。"
PICK_LABEL = "选择要删除的文档"
REMOVE = "删除所选文档"
CONFIRM = "确认删除"
CANCEL = "取消"
CONFIRM_QUESTION = "确定从资料库删除这 {n} 篇文档吗？{names}"
LIBRARY_EMPTY = "资料库里还没有文档。"
LIBRARY_COUNT = "共 {files} 个文件，{chunks} 个段落。"
LIBRARY_COLUMNS = ("标题", "文件", "类型", "段落", "加入时间")
KIND_PAGES = "{kind}（{pages} 页）"
KIND_RECORDS = "{kind}（{documents} 条）"

# -- a library change's outcome (qa/ui/librarian.py) ---------------------------------------------------------------
# the build's stages (QA.add / QA.remove progress), as the status line names them
STAGES = {"reading": "读取文档", "indexing": "建立关键词索引", "embedding": "计算段落向量",
          "sentences": "计算句子向量", "writing": "写入索引"}
STAGE_PERCENT = "{stage} {percent}%（{done}/{total}）"
PROGRESS_STEP = "{step}，"
PROGRESS_TIME = "已用 {elapsed} 秒。提问仍由更新前的索引回答。"
# The readers' reasons (qa/documents/unreadable.py) are English for the CLI; the page says them in Chinese only,
# chosen by the reason's code (the English detail names parsers and exceptions a visitor cannot act on).
REASONS = {
    "encrypted": "文件有密码保护，无法读取",
    "pdf_broken": "PDF 文件已损坏或无法解析",
    "pdf_empty": "PDF 文件没有页面",
    "pdf_no_text": "PDF 中没有可提取的文字",
    "needs_ocr": "扫描件或图片中的文字需要安装 OCR 组件才能识别",
    "ocr_no_text": "扫描件或图片中没有识别出文字",
    "docx_broken": "Word 文件已损坏或无法解析",
    "docx_empty": "Word 文件中没有文字",
    "html_broken": "网页文件无法解析",
    "html_empty": "网页中没有正文",
    "image_broken": "图片无法读取",
    "too_large": "文件解压后过大（可能是压缩炸弹），未读取",
    "empty_file": "文件是空的",
    "binary": "不是文本文件（可能是其他类型的文件改了扩展名）",
    "encoding": "无法识别文件的文字编码，请另存为 UTF-8 文本",
    "unsupported": "不支持这种类型的文件",
    "type": "不支持这种类型的文件",
    "size": "文件太大",
    "not_regular": "不是普通文件",
    "bad_record": "JSONL 记录格式不对",
    "empty": "文件中没有可用的内容",
    "unreadable": "文件无法读取",
}
REASON_UNKNOWN = "无法读取"
REFUSED = "{name}：{reason}"
TOO_BIG = SCRIPT_TEXT["tooBig"]
WRONG_TYPE = "{name}：不支持 {suffix} 类型的文件"
NO_SUFFIX = "无扩展名"
UPLOAD_GONE = "{name}：上传的文件已不在服务器上，请重新上传"
RENAMED_UNSAFE = "{name} 的文件名含有路径或不安全的字符，已改名为 {safe}"
ADDED = "已加入 {n} 篇：{names}。"
REMOVED = "已删除 {n} 篇：{names}（文件移到了文档文件夹的 .removed/ 中，可以找回）。"
SAME_NAME = "资料库里已存在同名文件 {name}，未覆盖；新上传的文件另存为 {stored}。"
UNCHANGED = "资料库里已存在同名且内容相同的文件：{names}，未覆盖，也没有重复加入。"
NOT_ADDED = "未加入：{reasons}。"
INDEX_UPDATED = ("索引已更新：共 {documents} 篇文档、{chunks} 个段落，新计算 {embedded} 个，沿用 {reused} 个，"
                 "用时 {seconds:.1f} 秒。")
NO_CHANGE_BEFORE = "资料库没有变化："
NO_CHANGE = "资料库没有变化。"
NOTHING_ADDED = "未加入任何文件：{reasons}。"
REMOVE_FAILED = "删除失败：{error}"
UPDATE_FAILED = "资料库更新失败：{error}"
UPDATE_FAILED_UNKNOWN = "资料库更新失败：未知错误，请查看服务器日志。"
# joining names and reasons in a sentence
NAME_SEP = "、"
REASON_SEP = "；"
